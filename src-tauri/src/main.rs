//! The IPTinCan tray app's entry point; everything happens in the library's [`run`].

// No console window next to the tray on Windows release builds.
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

fn main() {
    iptincan_tray::run();
}
