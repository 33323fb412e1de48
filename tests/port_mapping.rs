//! Port mapping against a real router: miniupnpd (with nftables) in network namespaces that
//! each test creates and removes. The LAN namespace runs the real `itc-server` with `[network]
//! upnp = true`; the router namespace runs miniupnpd between the LAN (10.77.0.0/24) and a WAN
//! (11.0.0.0/24, a public-looking range that exists only inside these namespaces, because
//! miniupnpd refuses to forward from a private WAN address); the WAN namespace plays the
//! internet and connects through the mappings with the `itc` binary and curl.
//!
//! Discovery (SSDP multicast, NAT-PMP to the gateway) happens only inside these namespaces.
//! Needs root, `ip`, `nft`, `miniupnpd`, `upnpc` and `curl`; skips with a printed reason
//! otherwise. Every wait is bounded.

mod common;

use common::netns::{run, unique_prefix};
use common::{client_binary, run_bounded, server_binary, ServerProcess};
use iptincan::code::ConnectionCode;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The lease the server asks for: short, so that renewal shows within seconds.
const LEASE_SECONDS: u64 = 10;
/// Longest wait for the router to show the server's mappings.
const MAPPING_WAIT: Duration = Duration::from_secs(30);
const LAN_IP: &str = "10.77.0.2";
const ROUTER_WAN_IP: &str = "11.0.0.1";
const SERVER_PORTS: [(&str, u16); 3] = [("tcp", 3784), ("udp", 3785), ("tcp", 3786)];

/// Three namespaces joined by veth pairs, an nftables ruleset in the router, and (optionally)
/// miniupnpd; all of it removed on drop.
struct RouterLab {
    prefix: String,
    dir: tempfile::TempDir,
    upnp: bool,
    miniupnpd: Option<Child>,
}

impl RouterLab {
    /// Builds the namespaces; `upnp` chooses whether miniupnpd offers UPnP besides NAT-PMP.
    fn new(upnp: bool) -> RouterLab {
        let lab = RouterLab {
            prefix: unique_prefix("itcpm"),
            dir: tempfile::tempdir().expect("tempdir"),
            upnp,
            miniupnpd: None,
        };
        for side in ["lan", "rtr", "wan"] {
            run(&["ip", "netns", "add", &lab.ns(side)]);
        }
        let (lan, rtr, wan) = (lab.ns("lan"), lab.ns("rtr"), lab.ns("wan"));
        run(&["ip", "-n", &lan, "link", "add", "lan0", "type", "veth", "peer", "name", "rlan", "netns", &rtr]);
        run(&["ip", "-n", &wan, "link", "add", "wan0", "type", "veth", "peer", "name", "rwan", "netns", &rtr]);
        for (ns, device, address) in [
            (&lan, "lan0", "10.77.0.2/24"),
            (&rtr, "rlan", "10.77.0.1/24"),
            (&rtr, "rwan", "11.0.0.1/24"),
            (&wan, "wan0", "11.0.0.2/24"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", address, "dev", device]);
            run(&["ip", "-n", ns, "link", "set", device, "up"]);
        }
        for ns in [&lan, &rtr, &wan] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        run(&["ip", "-n", &lan, "route", "add", "default", "via", "10.77.0.1"]);
        run(&["ip", "netns", "exec", &rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        let rules = lab.dir.path().join("router.nft");
        std::fs::write(&rules, RULESET).expect("writes the ruleset");
        run(&["ip", "netns", "exec", &rtr, "nft", "-f", &rules.display().to_string()]);
        lab
    }

    fn ns(&self, side: &str) -> String {
        format!("{}{side}", self.prefix)
    }

    /// A command run inside one namespace.
    fn exec(&self, side: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        common::netns::exec(&self.ns(side), program)
    }

    fn lease_file(&self) -> PathBuf {
        self.dir.path().join("miniupnpd.leases")
    }

    /// Starts miniupnpd in the router namespace and waits until it listens.
    fn start_router(&mut self) {
        let config = self.dir.path().join("miniupnpd.conf");
        let enable_upnp = if self.upnp { "yes" } else { "no" };
        let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").expect("a uuid");
        let text = format!(
            "ext_ifname=rwan\nlistening_ip=rlan\nhttp_port=5555\nenable_upnp={enable_upnp}\nenable_natpmp=yes\n\
             secure_mode=yes\nsystem_uptime=yes\nuuid={}\nlease_file={}\nupnp_table_name=filter\n\
             upnp_nat_table_name=filter\nupnp_forward_chain=miniupnpd\nupnp_nat_chain=prerouting_miniupnpd\n\
             upnp_nat_postrouting_chain=postrouting_miniupnpd\nallow 1024-65535 10.77.0.0/24 1024-65535\n\
             deny 0-65535 0.0.0.0/0 0-65535\n",
            uuid.trim(),
            self.lease_file().display()
        );
        std::fs::write(&config, text).expect("writes miniupnpd.conf");
        let log_path = self.dir.path().join("miniupnpd.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let pid_file = self.dir.path().join("miniupnpd.pid");
        let child = self
            .exec("rtr", "miniupnpd")
            .arg("-d")
            .arg("-f")
            .arg(&config)
            .arg("-P")
            .arg(&pid_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starts miniupnpd");
        self.miniupnpd = Some(child);
        wait_until("miniupnpd listens", Duration::from_secs(10), || {
            std::fs::read_to_string(&log_path).unwrap_or_default().contains("Listening for NAT-PMP")
        });
    }

    /// Kills miniupnpd and wipes what a router reboot wipes: its rules and its lease file.
    fn crash_and_forget(&mut self) {
        if let Some(mut child) = self.miniupnpd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.lease_file());
        for chain in ["miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"] {
            run(&["ip", "netns", "exec", &self.ns("rtr"), "nft", "flush", "chain", "inet", "filter", chain]);
        }
    }

    /// The router's port forwards, as (protocol, external port).
    fn forwards(&self) -> Vec<(&'static str, u16)> {
        let rules = run(&[
            "ip",
            "netns",
            "exec",
            &self.ns("rtr"),
            "nft",
            "list",
            "chain",
            "inet",
            "filter",
            "prerouting_miniupnpd",
        ]);
        let mut forwards: Vec<_> = rules
            .lines()
            .filter(|line| line.contains("dnat"))
            .filter_map(|line| {
                let protocol = if line.contains("0x6 ") { "tcp" } else { "udp" };
                let port = line.split("dport ").nth(1)?.split_whitespace().next()?.parse().ok()?;
                Some((protocol, port))
            })
            .collect();
        forwards.sort_unstable();
        forwards
    }

    /// Waits until the router forwards exactly the server's three ports.
    fn wait_for_server_forwards(&self, what: &str) {
        let mut expected = SERVER_PORTS.to_vec();
        expected.sort_unstable();
        wait_until(what, MAPPING_WAIT, || self.forwards() == expected);
    }

    /// UPnP's view of the mappings: (external port, seconds of lease left), via `upnpc -l`.
    fn upnp_leases(&self) -> Vec<(u16, u64)> {
        let (_, listing, _) = run_bounded(self.exec("lan", "upnpc").arg("-l"));
        listing
            .lines()
            .filter(|line| line.contains("->10.77.0.2:"))
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let port = fields.get(2)?.split("->").next()?.parse().ok()?;
                let left = fields.last()?.parse().ok()?;
                Some((port, left))
            })
            .collect()
    }

    /// Starts `itc-server` in the LAN namespace with port mapping on, on the default ports.
    fn start_server(&self, data: &Path) -> ServerProcess {
        let config = format!(
            "[server]\nname = \"Namespace Family\"\nbind_address = \"0.0.0.0\"\nlog_level = \"info\"\n\
             [network]\nupnp = true\nlease_seconds = {LEASE_SECONDS}\n"
        );
        std::fs::write(data.join("server.toml"), config).expect("writes server.toml");
        let mut command = self.exec("lan", server_binary());
        command.arg("--data-dir").arg(data);
        ServerProcess::spawn_command(command).expect("itc-server starts in the LAN namespace")
    }

    /// `itc info` from the WAN namespace with `code`; returns its output.
    fn info_from_internet(&self, code: &str) -> String {
        let known_hosts = self.dir.path().join("known_hosts");
        let (ok, stdout, stderr) = run_bounded(
            self.exec("wan", client_binary()).arg("--known-hosts").arg(&known_hosts).args(["--server", code, "info"]),
        );
        assert!(ok, "itc info through the router failed: {stderr}");
        stdout
    }

    /// `GET /api/server` from the WAN namespace through the mapped REST port.
    fn rest_from_internet(&self, host: &str) -> serde_json::Value {
        let url = format!("https://{host}:3786/api/server");
        let (ok, body, stderr) = run_bounded(self.exec("wan", "curl").args(["-sk", "--max-time", "10", &url]));
        assert!(ok, "curl {url} from the WAN failed: {stderr}");
        serde_json::from_str(&body).expect("JSON from /api/server")
    }
}

impl Drop for RouterLab {
    fn drop(&mut self) {
        if let Some(mut child) = self.miniupnpd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for side in ["lan", "rtr", "wan"] {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(side)]).status();
        }
    }
}

/// The router's firewall and NAT, with the empty chains miniupnpd fills (RECIPES.md).
const RULESET: &str = "table inet filter {
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        iifname \"rlan\" oifname \"rwan\" accept
        jump miniupnpd
    }
    chain prerouting {
        type nat hook prerouting priority -100; policy accept;
        jump prerouting_miniupnpd
    }
    chain postrouting {
        type nat hook postrouting priority 100; policy accept;
        jump postrouting_miniupnpd
        oifname \"rwan\" masquerade
    }
    chain miniupnpd {
    }
    chain prerouting_miniupnpd {
    }
    chain postrouting_miniupnpd {
    }
}
";

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits for the server to print an "Internet connection code" for `host` (earlier codes, for
/// other hosts, are skipped) and decodes it.
fn internet_code_for(server: &ServerProcess, host: &str) -> (String, ConnectionCode) {
    let deadline = Instant::now() + MAPPING_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server.next_stdout_line("Internet connection code: ", left).unwrap_or_else(|| {
            panic!("no internet connection code for {host} was printed; server log:\n{}", server.stderr());
        });
        let code = line.trim_start_matches("Internet connection code: ").trim().to_string();
        let decoded = ConnectionCode::decode(&code).expect("a valid code");
        if decoded.host == host {
            return (code, decoded);
        }
    }
}

/// A router (with or without UPnP; NAT-PMP always), the server behind it in its data dir, and
/// once the router forwards the server's ports, the internet code the server printed.
fn serve_behind_router(upnp: bool) -> (RouterLab, tempfile::TempDir, ServerProcess, String, ConnectionCode) {
    let mut lab = RouterLab::new(upnp);
    lab.start_router();
    let data = tempfile::tempdir().expect("tempdir");
    let server = lab.start_server(data.path());
    lab.wait_for_server_forwards("the router forwards the server's ports");
    let (code, decoded) = internet_code_for(&server, ROUTER_WAN_IP);
    assert_eq!(decoded.port, 3784, "the same port at the router");
    (lab, data, server, code, decoded)
}

#[test]
fn upnp_opens_renews_restores_and_removes_the_ports() {
    skip_unless_netns!("upnp_opens_renews_restores_and_removes_the_ports", &["nft", "miniupnpd", "upnpc", "curl"]);
    let started = Instant::now();
    // Mappings appear, for the same ports, and the server shows a code for the internet side.
    let (mut lab, _data, server, code, decoded) = serve_behind_router(true);
    let lan_code = ConnectionCode::decode(&server.code).expect("LAN code");
    assert_eq!(decoded.fingerprint, lan_code.fingerprint, "the internet code pins the same certificate");
    assert!(server.stderr().contains("ports open by UPnP at 11.0.0.1"), "{}", server.stderr());
    let mapped_at = Instant::now();

    // Traffic from the internet side reaches the server through them: TLS control and REST.
    let info = lab.info_from_internet(&code);
    assert!(info.contains("Namespace Family"), "{info}");
    let report = lab.rest_from_internet(ROUTER_WAN_IP);
    assert_eq!(report["port_mapping"]["state"], "mapped", "{report}");
    assert_eq!(report["port_mapping"]["method"], "upnp");
    assert_eq!(report["port_mapping"]["external_ip"], ROUTER_WAN_IP);
    assert_eq!(report["port_mapping"]["lease_seconds"], LEASE_SECONDS);

    // Renewal: past the first lease the mappings are still there, with time left on them.
    let expiry = Duration::from_secs(LEASE_SECONDS + 3);
    std::thread::sleep(expiry.saturating_sub(mapped_at.elapsed()));
    let leases = lab.upnp_leases();
    assert_eq!(leases.len(), 3, "all three mappings outlived their first lease: {leases:?}");
    assert!(leases.iter().all(|(_, left)| *left > 0 && *left <= LEASE_SECONDS), "{leases:?}");
    println!("renewed: leases left after {:?}: {leases:?}", mapped_at.elapsed());

    // The router reboots and forgets everything: the server maps the same ports again.
    lab.crash_and_forget();
    assert!(lab.forwards().is_empty());
    let rebooted = Instant::now();
    lab.start_router();
    lab.wait_for_server_forwards("the server re-creates its mappings after the router restarts");
    println!("re-mapped {:?} after the router came back", rebooted.elapsed());
    assert!(lab.info_from_internet(&code).contains("Namespace Family"), "the same code works again");

    // The provider hands the router a new address: the code shown follows it.
    let rtr = lab.ns("rtr");
    run(&["ip", "-n", &rtr, "addr", "del", "11.0.0.1/24", "dev", "rwan"]);
    run(&["ip", "-n", &rtr, "addr", "add", "11.0.0.3/24", "dev", "rwan"]);
    let (code, decoded) = internet_code_for(&server, "11.0.0.3");
    assert_eq!(decoded.port, 3784, "the internet code follows the new external address");
    assert!(lab.info_from_internet(&code).contains("Namespace Family"));
    assert!(server.stderr().contains("the external address changed"), "{}", server.stderr());

    // Stop: the mappings are gone.
    let (took, status) = server.terminate();
    assert!(status.success(), "itc-server exits cleanly");
    assert!(lab.forwards().is_empty(), "mappings left after stop: {:?}", lab.forwards());
    assert!(lab.upnp_leases().is_empty());
    println!("stopped in {took:?}; whole test {:?}", started.elapsed());
}

#[test]
fn nat_pmp_opens_and_removes_the_ports_where_upnp_is_off() {
    skip_unless_netns!("nat_pmp_opens_and_removes_the_ports_where_upnp_is_off", &["nft", "miniupnpd", "upnpc", "curl"]);
    let started = Instant::now();
    let (lab, _data, server, code, _) = serve_behind_router(false);
    assert!(server.stderr().contains("ports open by NAT-PMP at 11.0.0.1"), "{}", server.stderr());
    println!("mapped by NAT-PMP {:?} after the start", started.elapsed());
    assert!(lab.info_from_internet(&code).contains("Namespace Family"));
    let report = lab.rest_from_internet(ROUTER_WAN_IP);
    assert_eq!(report["port_mapping"]["method"], "nat_pmp", "{report}");

    // Renewal: the router would drop the mappings after their lease.
    std::thread::sleep(Duration::from_secs(LEASE_SECONDS + 3));
    assert_eq!(lab.forwards().len(), 3, "mappings outlived their first lease");

    let (_, status) = server.terminate();
    assert!(status.success());
    assert!(lab.forwards().is_empty(), "mappings left after stop: {:?}", lab.forwards());
    println!("whole test {:?}", started.elapsed());
}

#[test]
fn a_router_without_upnp_or_nat_pmp_is_explained_in_plain_words() {
    skip_unless_netns!(
        "a_router_without_upnp_or_nat_pmp_is_explained_in_plain_words",
        &["nft", "miniupnpd", "upnpc", "curl"]
    );
    let lab = RouterLab::new(true); // routes everywhere, but nothing answers on the router
    let data = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let server = lab.start_server(data.path());
    let explained = "Your router does not offer automatic port opening (UPnP/NAT-PMP)";
    wait_until("the server explains the missing router support", Duration::from_secs(20), || {
        server.stderr().contains(explained)
    });
    println!("no-router problem reported {:?} after the start", started.elapsed());
    let (ok, body, stderr) = run_bounded(lab.exec("lan", "curl").args([
        "-sk",
        "--max-time",
        "10",
        &format!("https://{LAN_IP}:3786/api/server"),
    ]));
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["port_mapping"]["state"], "problem", "{report}");
    assert_eq!(report["port_mapping"]["kind"], "no_router_support");
    let (_, status) = server.terminate();
    assert!(status.success());
}
