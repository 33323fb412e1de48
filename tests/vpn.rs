//! The VPN against real peers in network namespaces that each test creates and removes:
//! a "phone" namespace (10.99.0.2) that reaches the "home" namespace (10.99.0.1, running the
//! real `itc-server` with `[vpn] enabled = true`) over a veth pair, and an "internet"
//! namespace (198.18.0.2, a benchmark range that exists only here) that only home can route
//! to (198.18.0.1). The internet runs a tiny web server and a DNS stand-in (UDP 53) that both
//! answer with the address they see, so a test can tell that home NATed the phone's traffic.
//!
//! The phone is Debian's `wireguard-go` configured with `wg` from the config text the server
//! printed, or `itc vpn up` (our own client end). Needs root, `ip`, `nft`, `wireguard-go`, `wg`, `curl`, `python3`; skips with a
//! printed reason otherwise. Every wait is bounded. The tests that saturate the tunnel take
//! the machine alone ([`Share::Alone`]); the others run side by side.

mod common;

use common::netns::{exec, run, unique_prefix, MachineShare, Share};
use common::{run_bounded, server_binary, ServerProcess};
use iptincan::vpn::client_config::ClientConfig;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOOLS: &[&str] = &["nft", "wireguard-go", "wg", "curl", "python3", "iperf3", "espeak-ng", "sox"];
const ADMIN_PASSWORD: &str = "vpn-admin-password";
const HOME_LAN_IP: &str = "10.99.0.1";
const HOME_WAN_IP: &str = "198.18.0.1";
const INTERNET_IP: &str = "198.18.0.2";
const VPN_SUBNET: &str = "10.66.0.0/24";
/// Bytes sent each way in the bulk transfer through `itc vpn` (hundreds of 64 KB segments).
const BULK_BYTES: u64 = 32 * 1024 * 1024;
/// How long a change may take to show (the server re-reads its peers every 5 s).
const SETTLE: Duration = Duration::from_secs(20);

/// The internet's servers: HTTP on 8080 and UDP on 53 answer with the client's address; a
/// POST to `/file` is kept as the file `uploaded` in the directory given, and a GET of
/// `/file` answers with it.
const INTERNET_SERVERS: &str = r#"
import http.server, os, socket, threading, sys
ip, kept = sys.argv[1], os.path.join(sys.argv[2], "uploaded")
class Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        with open(kept, "wb") as file:
            file.write(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()
    def do_GET(self):
        body = open(kept, "rb").read() if self.path == "/file" else self.client_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
def dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 53))
    while True:
        data, peer = s.recvfrom(512)
        s.sendto(peer[0].encode(), peer)
threading.Thread(target=dns, daemon=True).start()
server = http.server.ThreadingHTTPServer((ip, 8080), Echo)
print("serving", file=sys.stderr, flush=True)
server.serve_forever()
"#;

/// Phone, home and internet namespaces, their processes, and the files they use; all of it
/// removed on drop, and then the share of the machine released.
struct VpnLab {
    prefix: String,
    dir: tempfile::TempDir,
    children: Vec<Child>,
    wg_interface: String,
    _share: MachineShare,
}

impl VpnLab {
    fn new(share: Share) -> VpnLab {
        let share = common::netns::hold(share);
        let prefix = unique_prefix("itcvpn");
        let wg_interface = format!("wg{}", &prefix[prefix.len().saturating_sub(10)..]);
        let lab = VpnLab {
            prefix,
            dir: tempfile::tempdir().expect("tempdir"),
            children: Vec::new(),
            wg_interface,
            _share: share,
        };
        for side in ["phone", "home", "net"] {
            run(&["ip", "netns", "add", &lab.ns(side)]);
            run(&["ip", "-n", &lab.ns(side), "link", "set", "lo", "up"]);
        }
        let (phone, home, net) = (lab.ns("phone"), lab.ns("home"), lab.ns("net"));
        run(&["ip", "-n", &phone, "link", "add", "phone0", "type", "veth", "peer", "name", "lan0", "netns", &home]);
        run(&["ip", "-n", &net, "link", "add", "net0", "type", "veth", "peer", "name", "wan0", "netns", &home]);
        for (ns, device, address) in [
            (&phone, "phone0", "10.99.0.2/24"),
            (&home, "lan0", "10.99.0.1/24"),
            (&home, "wan0", "198.18.0.1/24"),
            (&net, "net0", "198.18.0.2/24"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", address, "dev", device]);
            run(&["ip", "-n", ns, "link", "set", device, "up"]);
        }
        run(&["ip", "-n", &home, "route", "add", "default", "via", INTERNET_IP]);
        run(&["ip", "netns", "exec", &home, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        lab
    }

    fn ns(&self, side: &str) -> String {
        format!("{}{side}", self.prefix)
    }

    fn exec(&self, side: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        exec(&self.ns(side), program)
    }

    /// `program` in `side` at a low CPU priority (nice 10): the phone's WireGuard and the
    /// iperf3 ends stand for other machines (the member's device, the internet), which at
    /// home do not share the server's cores. Here they still saturate the tunnel with every
    /// cycle left over, but do not take turns from the server and the call's clients.
    fn exec_elsewhere(&self, side: &str, program: &str) -> Command {
        let mut command = self.exec(side, "nice");
        command.args(["-n", "10", program]);
        command
    }

    /// Starts the internet's web server and DNS stand-in.
    fn start_internet(&mut self) {
        let mut command = self.exec("net", "python3");
        command.arg("-c").arg(INTERNET_SERVERS).arg(INTERNET_IP).arg(self.dir.path());
        self.children.push(common::spawn_until_ready(command, "serving"));
    }

    /// Starts `itc-server` in home with the VPN on, in `data`.
    fn start_server(&self, data: &Path, vpn_extra: &str) -> ServerProcess {
        let config = format!(
            "[server]\nname = \"VPN Family\"\nbind_address = \"{HOME_LAN_IP}\"\nlog_level = \"info\"\n\
             [vpn]\nenabled = true\nsubnet = \"{VPN_SUBNET}\"\ndns_server = \"{INTERNET_IP}\"\n{vpn_extra}\n"
        );
        std::fs::write(data.join("server.toml"), config).expect("writes server.toml");
        let mut command = self.exec("home", server_binary());
        command.arg("--data-dir").arg(data);
        ServerProcess::spawn_command(command).expect("itc-server starts in the home namespace")
    }

    /// `itc-server vpn-peer add chatter`: the config text it printed.
    fn add_app_peer(&self, data: &Path, name: &str) -> ClientConfig {
        let (ok, stdout, stderr) = run_bounded(self.exec("home", server_binary()).arg("--data-dir").arg(data).args([
            "vpn-peer",
            "add",
            "chatter",
            "--name",
            name,
            "--host",
            HOME_LAN_IP,
        ]));
        assert!(ok, "vpn-peer add failed: {stderr}");
        let text: String =
            stdout.split_inclusive('\n').take_while(|line| !line.contains('█') && !line.contains('▀')).collect();
        ClientConfig::parse(&text).unwrap_or_else(|err| panic!("{err} in:\n{stdout}"))
    }

    /// Runs wireguard-go in the phone, configured from `config` with `wg` and `ip` (what
    /// wg-quick would do, without resolvconf): full tunnel, the endpoint reached directly.
    fn start_phone(&mut self, config: &ClientConfig) {
        let interface = self.wg_interface.clone();
        let child = self
            .exec_elsewhere("phone", "wireguard-go")
            .args(["-f", &interface])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wireguard-go runs");
        self.children.push(child);
        let socket = PathBuf::from(format!("/var/run/wireguard/{interface}.sock"));
        wait_until("wireguard-go is up", Duration::from_secs(10), || socket.exists());
        let key_file = self.dir.path().join("phone.key");
        std::fs::write(&key_file, &config.private_key).expect("writes the key");
        let phone = self.ns("phone");
        run(&[
            "ip",
            "netns",
            "exec",
            &phone,
            "wg",
            "set",
            &interface,
            "private-key",
            &key_file.display().to_string(),
            "peer",
            &config.server_public_key,
            "endpoint",
            &config.endpoint,
            "allowed-ips",
            "0.0.0.0/0",
            "persistent-keepalive",
            "25",
        ]);
        run(&["ip", "-n", &phone, "addr", "add", &format!("{}/32", config.address), "dev", &interface]);
        run(&["ip", "-n", &phone, "link", "set", &interface, "up"]);
        run(&["ip", "-n", &phone, "route", "add", "default", "dev", &interface]);
    }

    /// What the internet's web server saw as the phone's address, if the request got through.
    fn fetch_from_phone(&self) -> Option<String> {
        let url = format!("http://{INTERNET_IP}:8080/");
        let (ok, body, _) = run_bounded(self.exec("phone", "curl").args(["-s", "--max-time", "2", &url]));
        ok.then_some(body)
    }

    /// What the internet's DNS stand-in at `server` saw, if the query got through.
    fn dns_from_phone(&self, server: &str) -> Option<String> {
        let script = format!(
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(2)\n\
             s.sendto(b'query', ('{server}', 53))\nprint(s.recvfrom(100)[0].decode())"
        );
        let (ok, out, _) = run_bounded(self.exec("phone", "python3").args(["-c", &script]));
        ok.then(|| out.trim().to_string())
    }

    /// `itc` in home as the admin (whose first-run password change this makes first).
    fn itc_admin(&self, server: &ServerProcess, args: &[&str]) -> String {
        let known_hosts = self.dir.path().join("known_hosts");
        let itc = |password: &str, args: &[&str]| {
            run_bounded(
                self.exec("home", common::client_binary())
                    .arg("--known-hosts")
                    .arg(&known_hosts)
                    .args(["--server", &server.code, "--user", "chatter", "--password", password])
                    .args(args),
            )
        };
        let password_set = self.dir.path().join("admin-password-set");
        if !password_set.exists() {
            let (ok, _, stderr) = itc("chatter", &["passwd", "--new", ADMIN_PASSWORD]);
            assert!(ok, "first-run password change: {stderr}");
            std::fs::write(&password_set, "").expect("marks it");
        }
        let (ok, stdout, stderr) = itc(ADMIN_PASSWORD, args);
        assert!(ok, "itc {args:?}: {stderr}");
        stdout
    }

    /// Starts a one-run iperf3 server in the internet and gives it a moment to listen.
    fn start_iperf_server(&mut self) {
        let server = self
            .exec_elsewhere("net", "iperf3")
            .args(["-s", "-B", INTERNET_IP, "-1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("iperf3 server");
        self.children.push(server);
        std::thread::sleep(Duration::from_millis(500));
    }

    /// iperf3 in the phone sending to the internet for `seconds`, with a JSON report.
    fn iperf_client(&self, seconds: u64) -> Command {
        let mut command = self.exec_elsewhere("phone", "iperf3");
        command.args(["-c", INTERNET_IP, "-t", &seconds.to_string(), "-J", "--connect-timeout", "3000"]);
        command
    }

    /// iperf3 from the phone to the internet for `seconds`; the receiver's rate in bit/s.
    fn iperf_from_phone(&mut self, seconds: u64) -> f64 {
        self.start_iperf_server();
        let (ok, out, stderr) = run_bounded(&mut self.iperf_client(seconds));
        assert!(ok, "iperf3 through the tunnel: {stderr}{out}");
        received_rate(&out)
    }

    /// Sends `bytes` (not compressible) from the phone to the internet's web server and back
    /// through the tunnel; what arrived each way.
    fn round_trip_file(&self, bytes: u64) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let sent = self.dir.path().join("sent");
        common::pattern::generate(&sent, bytes, 14).expect("writes the file to send");
        let url = format!("http://{INTERNET_IP}:8080/file");
        let upload = format!("@{}", sent.display());
        // curl gives up before run_bounded would (30 s), and says why.
        let (ok, _, err) =
            run_bounded(self.exec("phone", "curl").args(["-sSf", "--max-time", "25", "--data-binary", &upload, &url]));
        assert!(ok, "upload through the tunnel: {err}");
        let uploaded = std::fs::read(self.dir.path().join("uploaded")).expect("the internet kept the upload");
        let received = self.dir.path().join("received");
        let (ok, _, err) =
            run_bounded(self.exec("phone", "curl").args(["-sSf", "--max-time", "25", "-o"]).arg(&received).arg(&url));
        assert!(ok, "download through the tunnel: {err}");
        let content = std::fs::read(&sent).expect("the file sent");
        (content, uploaded, std::fs::read(&received).expect("the download"))
    }

    /// `itc ARGS` in the phone as the admin, with the phone's own key and state files.
    fn itc_phone(&self, server: &ServerProcess, args: &[&str]) -> (bool, String, String) {
        let home = self.dir.path().join("phone-home");
        run_bounded(
            self.exec("phone", common::client_binary())
                .env("HOME", &home)
                .env_remove("XDG_CONFIG_HOME")
                .env("ITC_VPN_RUN_DIR", home.join("run"))
                .env("ITC_KNOWN_HOSTS", home.join("known_hosts"))
                .env("ITC_PASSWORD", ADMIN_PASSWORD)
                .args(["--server", &server.code, "--user", "chatter"])
                .args(args),
        )
    }

    /// The pid of the phone's `itc vpn` tunnel process, from its state file.
    fn phone_tunnel_pid(&self) -> Option<u32> {
        let state = self.dir.path().join("phone-home").join("run").join("vpn.json");
        iptincan::client::vpn::read_state(&state).ok().flatten().map(|state| state.pid)
    }

    /// The phone namespace's links and routes.
    fn phone_network(&self) -> (String, String) {
        let phone = self.ns("phone");
        (run(&["ip", "-n", &phone, "-o", "link", "show"]), run(&["ip", "-n", &phone, "route", "show"]))
    }

    /// UDP datagrams delivered to sockets in `side`, and those dropped for a full receive
    /// queue (`/proc/net/snmp` of the namespace).
    fn udp_counters(&self, side: &str) -> (u64, u64) {
        let snmp = run(&["ip", "netns", "exec", &self.ns(side), "cat", "/proc/net/snmp"]);
        let mut udp = snmp.lines().filter(|line| line.starts_with("Udp:")).map(|line| line.split_whitespace());
        let (Some(names), Some(values)) = (udp.next(), udp.next()) else { panic!("no UDP counters in {snmp}") };
        let counters: std::collections::HashMap<&str, u64> =
            names.zip(values).filter_map(|(name, value)| Some((name, value.parse().ok()?))).collect();
        (counters["InDatagrams"], counters["RcvbufErrors"])
    }

    /// The home namespace's links and nftables tables.
    fn home_leftovers(&self) -> (String, String) {
        let home = self.ns("home");
        (run(&["ip", "-n", &home, "-o", "link", "show"]), run(&["ip", "netns", "exec", &home, "nft", "list", "tables"]))
    }
}

impl Drop for VpnLab {
    fn drop(&mut self) {
        if let Some(pid) = self.phone_tunnel_pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for side in ["phone", "home", "net"] {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(side)]).status();
        }
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.wg_interface));
    }
}

/// The receiver's rate in bit/s from an iperf3 JSON report.
fn received_rate(report: &str) -> f64 {
    let report: serde_json::Value = serde_json::from_str(report).expect("iperf3 JSON");
    report["end"]["sum_received"]["bits_per_second"].as_f64().expect("a received rate")
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A lab (with `share` of the machine) with the internet up, the server running and a
/// wireguard-go phone configured from the config text the server made for it.
fn phone_through_home(share: Share) -> (VpnLab, tempfile::TempDir, ServerProcess, ClientConfig) {
    let mut lab = VpnLab::new(share);
    lab.start_internet();
    let data = tempfile::tempdir().expect("tempdir");
    let server = lab.start_server(data.path(), "");
    let config = lab.add_app_peer(data.path(), "phone");
    lab.start_phone(&config);
    (lab, data, server, config)
}

#[test]
fn a_wireguard_go_phone_browses_through_home_natted_with_the_configured_dns_until_revoked() {
    skip_unless_netns!("a_wireguard_go_phone_browses_through_home_natted_with_the_configured_dns_until_revoked", TOOLS);
    let (lab, data, server, config) = phone_through_home(Share::Shared);
    assert_eq!(config.endpoint, format!("{HOME_LAN_IP}:3785"), "the connection code's host and the UDP port");
    assert_eq!(config.address.to_string(), "10.66.0.2", "the first peer address after the server's");
    assert_eq!(config.dns, INTERNET_IP, "DNS = vpn.dns_server");

    let mut seen = None;
    wait_until("the phone reaches the internet through the tunnel", SETTLE, || {
        seen = lab.fetch_from_phone();
        seen.is_some()
    });
    assert_eq!(seen.as_deref(), Some(HOME_WAN_IP), "the web server sees home's address: NATed");
    assert_eq!(
        lab.dns_from_phone(&config.dns).as_deref(),
        Some(HOME_WAN_IP),
        "the configured DNS answers through the tunnel"
    );
    let direct = run_bounded(lab.exec("phone", "ip").args(["route", "get", INTERNET_IP])).1;
    assert!(direct.contains(&lab.wg_interface), "the phone has no other way to the internet: {direct}");

    let (ok, listed, stderr) =
        run_bounded(lab.exec("home", server_binary()).arg("--data-dir").arg(data.path()).args(["vpn-peer", "list"]));
    assert!(ok, "{stderr}");
    let peer_id = listed.split('\t').next().expect("one peer").trim().to_string();
    let (ok, _, stderr) = run_bounded(
        lab.exec("home", server_binary()).arg("--data-dir").arg(data.path()).args(["vpn-peer", "remove", &peer_id]),
    );
    assert!(ok, "{stderr}");
    wait_until("the revoked phone no longer gets through", SETTLE, || lab.fetch_from_phone().is_none());
    // wireguard-go keeps trying new handshakes; none completes.
    std::thread::sleep(Duration::from_secs(6));
    assert!(lab.fetch_from_phone().is_none(), "a revoked peer's new handshakes fail");
    drop(server);
}

#[test]
fn admins_see_the_phone_connected_with_its_traffic_and_cap_its_bandwidth() {
    skip_unless_netns!("admins_see_the_phone_connected_with_its_traffic_and_cap_its_bandwidth", TOOLS);
    // Alone: the rates measured through the cap are the tunnel's, not its neighbours'.
    let (mut lab, _data, server, _config) = phone_through_home(Share::Alone);
    wait_until("the phone reaches the internet", SETTLE, || lab.fetch_from_phone().is_some());

    let peers = lab.itc_admin(&server, &["admin", "vpn", "peers"]);
    assert!(peers.starts_with("the VPN is running"), "{peers}");
    let line = peers.lines().find(|line| line.contains("10.66.0.2")).unwrap_or_else(|| panic!("no peer in {peers}"));
    assert!(line.contains("chatter\tphone") && line.contains("connected (handshake"), "{line}");
    let received: u64 = line
        .split("received ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("bytes");
    assert!(received > 0, "{line}");
    let peer_id = line.split('\t').next().expect("id").to_string();

    // 4 Mbit/s each way; TCP through the cap must stay near it.
    lab.itc_admin(&server, &["admin", "vpn", "limit", "--peer", &peer_id, "4000"]);
    let capped = lab.iperf_from_phone(3);
    assert!(capped < 4_000_000.0 * 1.15, "held to its cap: {capped} bit/s");
    assert!(capped > 4_000_000.0 * 0.3, "but still flowing: {capped} bit/s");

    lab.itc_admin(&server, &["admin", "vpn", "limit", "--peer", &peer_id, "0"]);
    let open = lab.iperf_from_phone(2);
    assert!(open > capped * 2.0, "0 lifts the cap: {open} bit/s against {capped} bit/s capped");

    let revoked = lab.itc_admin(&server, &["admin", "vpn", "revoke", &peer_id]);
    assert!(revoked.contains("revoked VPN peer"), "{revoked}");
    assert!(lab.fetch_from_phone().is_none(), "revoking through the control channel ends the tunnel at once");
}

#[test]
fn stop_and_crash_leave_no_device_or_rule_behind() {
    skip_unless_netns!("stop_and_crash_leave_no_device_or_rule_behind", TOOLS);
    let lab = VpnLab::new(Share::Shared);
    let data = tempfile::tempdir().expect("tempdir");

    let server = lab.start_server(data.path(), "");
    let (links, tables) = lab.home_leftovers();
    assert!(links.contains("itc-vpn0"), "the server made its device: {links}");
    assert!(tables.contains("table ip iptincan"), "and its NAT table: {tables}");
    let (_, status) = server.terminate();
    assert!(status.success(), "a clean stop");
    let (links, tables) = lab.home_leftovers();
    assert!(!links.contains("itc-vpn0"), "stop removes the device: {links}");
    assert!(!tables.contains("iptincan"), "stop removes the table: {tables}");

    let server = lab.start_server(data.path(), "");
    server.kill();
    let (links, _) = lab.home_leftovers();
    assert!(!links.contains("itc-vpn0"), "the kernel removes the device of a killed server: {links}");
    let server = lab.start_server(data.path(), "");
    let (_, tables) = lab.home_leftovers();
    assert_eq!(tables.matches("iptincan").count(), 1, "the next start replaces the crashed server's table: {tables}");
    let (_, status) = server.terminate();
    assert!(status.success());
    let (links, tables) = lab.home_leftovers();
    assert!(!links.contains("itc-vpn0") && !tables.contains("iptincan"), "nothing is left: {links}{tables}");
}

#[test]
fn without_ip_forwarding_the_server_says_so_in_one_line_and_keeps_serving() {
    skip_unless_netns!("without_ip_forwarding_the_server_says_so_in_one_line_and_keeps_serving", TOOLS);
    let lab = VpnLab::new(Share::Shared);
    run(&["ip", "netns", "exec", &lab.ns("home"), "sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    let data = tempfile::tempdir().expect("tempdir");
    let server = lab.start_server(data.path(), "");
    let (ok, info, stderr) = run_bounded(
        lab.exec("home", common::client_binary()).arg("--known-hosts").arg(lab.dir.path().join("known_hosts")).args([
            "--server",
            &server.code,
            "info",
        ]),
    );
    assert!(ok, "chat still answers: {stderr}");
    assert!(info.contains("VPN Family"));
    let log = server.stderr();
    let lines: Vec<&str> = log.lines().filter(|line| line.contains("ip_forward")).collect();
    assert_eq!(lines.len(), 1, "one plain line about forwarding: {log}");
    assert!(lines[0].contains("sysctl -w net.ipv4.ip_forward=1"), "{}", lines[0]);
}

#[test]
fn itc_vpn_up_browses_through_home_and_down_or_a_crash_leaves_the_phone_as_it_was() {
    skip_unless_netns!("itc_vpn_up_browses_through_home_and_down_or_a_crash_leaves_the_phone_as_it_was", TOOLS);
    let mut lab = VpnLab::new(Share::Shared);
    lab.start_internet();
    let data = tempfile::tempdir().expect("tempdir");
    let server = lab.start_server(data.path(), "");
    lab.itc_admin(&server, &["admin", "vpn", "peers"]); // sets the admin's own password
    let before = lab.phone_network();

    let (ok, out, err) = lab.itc_phone(&server, &["vpn", "up", "--name", "laptop"]);
    assert!(ok, "itc vpn up: {err}{out}");
    assert!(out.contains("VPN up: itc-vpn has 10.66.0.2"), "{out}");
    assert_eq!(lab.fetch_from_phone().as_deref(), Some(HOME_WAN_IP), "browses through home, NATed");
    assert_eq!(lab.dns_from_phone(INTERNET_IP).as_deref(), Some(HOME_WAN_IP), "DNS through the tunnel");
    let route = run_bounded(lab.exec("phone", "ip").args(["route", "get", INTERNET_IP])).1;
    assert!(route.contains("dev itc-vpn"), "the internet is reached through the tunnel: {route}");
    // A bulk transfer each way: both ends split 64 KB segments into sealed datagrams and
    // coalesce them again (the offloads), and every byte arrives as it was.
    let (sent, uploaded, downloaded) = lab.round_trip_file(BULK_BYTES);
    assert!(uploaded == sent, "the upload arrived whole ({} of {} bytes, equal: false)", uploaded.len(), sent.len());
    assert!(
        downloaded == sent,
        "the download arrived whole ({} of {} bytes, equal: false)",
        downloaded.len(),
        sent.len()
    );
    let (ok, status, err) = lab.itc_phone(&server, &["vpn", "status"]);
    assert!(ok, "{err}");
    assert!(status.contains("connected: last handshake") && status.contains("10.66.0.2"), "{status}");
    let peers = lab.itc_admin(&server, &["admin", "vpn", "peers"]);
    let line = peers.lines().find(|line| line.contains("\tlaptop\t")).unwrap_or_else(|| panic!("{peers}"));
    assert!(line.contains("connected (handshake"), "the admin sees the laptop connected: {line}");
    assert!(lab.dir.path().join("phone-home/.config/itc/vpn.key").exists(), "the device's key is kept for next time");

    let (ok, again, _) = lab.itc_phone(&server, &["vpn", "up"]);
    assert!(!ok && again.is_empty(), "a second up is refused while the first runs");

    let (ok, out, err) = lab.itc_phone(&server, &["vpn", "down"]);
    assert!(ok, "itc vpn down: {err}");
    assert!(out.contains("VPN down"), "{out}");
    assert_eq!(lab.phone_network(), before, "down leaves the phone's links and routes as they were");
    let (ok, _, err) = lab.itc_phone(&server, &["vpn", "status"]);
    assert!(!ok && err.contains("not up"), "{err}");

    // A killed tunnel process: the kernel removes the device; down removes the host route.
    let (ok, _, err) = lab.itc_phone(&server, &["vpn", "up", "--name", "laptop"]);
    assert!(ok, "up again, with the same key: {err}");
    let pid = lab.phone_tunnel_pid().expect("a tunnel process");
    run(&["kill", "-9", &pid.to_string()]);
    wait_until("the killed tunnel is gone", Duration::from_secs(5), || !Path::new(&format!("/proc/{pid}")).exists());
    let (ok, _, err) = lab.itc_phone(&server, &["vpn", "status"]);
    assert!(!ok && err.contains("ended"), "status tells the tunnel died: {err}");
    let (ok, _, err) = lab.itc_phone(&server, &["vpn", "down"]);
    assert!(ok, "{err}");
    assert_eq!(lab.phone_network(), before, "nothing is left after a crash and down");
    drop(server);
}

#[test]
fn voice_keeps_flowing_while_a_vpn_peer_saturates_its_tunnel() {
    skip_unless_netns!("voice_keeps_flowing_while_a_vpn_peer_saturates_its_tunnel", TOOLS);
    // Alone: the call must survive its own saturated tunnel; other tests' tunnels and servers
    // on the same cores would measure the machine, not the relay.
    let (mut lab, _data, server, _config) = phone_through_home(Share::Alone);
    wait_until("the phone reaches the internet", SETTLE, || lab.fetch_from_phone().is_some());
    lab.itc_admin(&server, &["admin", "create-channel", "living-room", "--voice"]);
    // Two other members talk from the home LAN (the phone's namespace, outside the tunnel),
    // through the same UDP port the tunnel uses.
    let voices = lab.dir.path().join("voices");
    std::fs::create_dir(&voices).expect("dir");
    for user in ["ann", "bob"] {
        let (ok, _, err) = run_bounded(
            lab.exec("phone", common::client_binary())
                .env("ITC_KNOWN_HOSTS", voices.join("known_hosts"))
                .env("ITC_PASSWORD", common::MEMBER_PASSWORD)
                .args(["--server", &server.code, "--user", user, "register"]),
        );
        assert!(ok, "register {user}: {err}");
    }
    let reference_path = common::audio::speech(&voices);
    let reference = iptincan::client::audio::read_wav(&reference_path).expect("speech");
    let seconds = (reference.len() as u64).div_ceil(48_000) + 4;

    // The tunnel saturated for the whole call: iperf3 from the phone, uncapped.
    lab.start_iperf_server();
    let load =
        lab.iperf_client(seconds + 4).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("iperf3 client");

    let heard = voices.join("bob.wav");
    let bob = common::audio::recorder(
        lab.exec("phone", common::client_binary()),
        &server.code,
        "bob",
        "living-room",
        &heard,
        seconds,
    );
    let (ok, _, err) = run_bounded(
        lab.exec("phone", common::client_binary())
            .env("ITC_KNOWN_HOSTS", voices.join("known_hosts"))
            .env("ITC_PASSWORD", common::MEMBER_PASSWORD)
            .args(["--server", &server.code, "--user", "ann", "voice", "play", "living-room"])
            .arg(&reference_path),
    );
    assert!(ok, "itc voice play: {err}");
    common::audio::finish(bob, Duration::from_secs(seconds + 15));
    let output = load.wait_with_output().expect("iperf3 ends");
    let tunnel_rate = received_rate(&String::from_utf8_lossy(&output.stdout));

    let recorded = iptincan::client::audio::read_wav(&heard).expect("bob's recording");
    let score = common::audio::best_correlation(&reference, &recorded);
    println!("tunnel saturated at {:.0} Mbit/s; the call's correlation {score:.3}", tunnel_rate / 1e6);
    let (received, dropped) = lab.udp_counters("home");
    println!("the server's UDP socket dropped {dropped} of {} datagrams (a full receive queue)", received + dropped);
    assert!(tunnel_rate > 20e6, "the tunnel was really loaded: {tunnel_rate} bit/s");
    assert!(score >= 0.9, "the call suffered from the tunnel's load: correlation {score:.3}");
}
