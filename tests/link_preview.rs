//! Link previews in network namespaces the test makes: the server (`itc-server` in a "home"
//! namespace) previews a page on an "internet" host, and refuses links to loopback, private,
//! link-local and metadata addresses, a name that resolves to a private address, and public
//! links that redirect to any of them; a listener on every one of those addresses sees no
//! connection. Host names resolve through the home namespace's own hosts file
//! (`/etc/netns/<ns>/hosts`, which `ip netns exec` puts in place of `/etc/hosts`). Linux only.
#![cfg(target_os = "linux")]

mod common;

use common::netns::{exec, run, unique_prefix, MachineShare, Share};
use common::{ServerProcess, MEMBER_PASSWORD, WAIT};
use iptincan::client::{Client, Target};
use iptincan::proto::{Event, LinkPreview, MessageId};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

/// The "internet" host's address (public-looking, so the server may reach it).
const SITE_IP: &str = "45.67.0.2";
const HOME_WAN: &str = "45.67.0.1/24";

/// The internet host: a page with `og:` tags, a redirector, and a file that is not HTML; it
/// appends each path asked for to a file.
const SITE: &str = r#"
import http.server, sys, urllib.parse
PAGE = b'''<html><head><title>Ignored</title>
<meta property="og:title" content="Family picnic">
<meta property="og:description" content="Bring &amp; share">
<meta property="og:image" content="/picnic.jpg"></head><body>hi</body></html>'''
class Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2], "a") as log:
            log.write(self.path + "\n")
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/page":
            self.answer(200, "text/html; charset=utf-8", PAGE)
        elif url.path == "/to":
            self.send_response(302)
            self.send_header("Location", query["u"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/chain":
            n = int(query["n"][0])
            self.send_response(301)
            self.send_header("Location", "/page" if n == 0 else "/chain?n=%d" % (n - 1))
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.answer(200, "application/octet-stream", b"\0" * 100)
    def answer(self, status, kind, body):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer((sys.argv[1], 80), Site)
print("serving", file=sys.stderr, flush=True)
server.serve_forever()
"#;

/// The trap: listens on port 80 of every address of home (IPv4 and IPv6) and appends a line to
/// a file for each connection it accepts.
const TRAP: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 80))
s.listen(64)
print("serving", file=sys.stderr, flush=True)
while True:
    conn, peer = s.accept()
    with open(sys.argv[1], "a") as log:
        log.write("%s\n" % (peer[0],))
    conn.close()
"#;

/// Home and internet namespaces, their processes and home's hosts file; removed on drop.
struct Lab {
    prefix: String,
    dir: tempfile::TempDir,
    children: Vec<Child>,
    _share: MachineShare,
}

impl Lab {
    fn new() -> Lab {
        let share = common::netns::hold(Share::Shared);
        let lab = Lab {
            prefix: unique_prefix("itclp"),
            dir: tempfile::tempdir().expect("tempdir"),
            children: Vec::new(),
            _share: share,
        };
        let (home, net) = (lab.ns("home"), lab.ns("net"));
        for ns in [&home, &net] {
            run(&["ip", "netns", "add", ns]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        run(&["ip", "-n", &home, "link", "add", "wan0", "type", "veth", "peer", "name", "net0", "netns", &net]);
        run(&["ip", "-n", &home, "link", "add", "lan0", "type", "veth", "peer", "name", "lan1"]);
        run(&["ip", "-n", &home, "link", "set", "lan1", "up"]);
        for (ns, device, address) in [
            (&home, "wan0", HOME_WAN),
            (&net, "net0", "45.67.0.2/24"),
            (&home, "lan0", "10.77.0.1/24"),
            (&home, "lan0", "169.254.169.254/16"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", address, "dev", device]);
            run(&["ip", "-n", ns, "link", "set", device, "up"]);
        }
        std::fs::create_dir_all(lab.hosts_dir()).expect("creates /etc/netns/<home>");
        std::fs::write(
            lab.hosts_dir().join("hosts"),
            format!("127.0.0.1 localhost\n::1 localhost\n{SITE_IP} site.example\n10.77.0.1 private.example\n"),
        )
        .expect("writes home's hosts file");
        lab
    }

    fn ns(&self, side: &str) -> String {
        format!("{}{side}", self.prefix)
    }

    fn hosts_dir(&self) -> PathBuf {
        PathBuf::from("/etc/netns").join(self.ns("home"))
    }

    fn trap_log(&self) -> PathBuf {
        self.dir.path().join("trap.log")
    }

    /// The addresses the trap has seen connect.
    fn trapped(&self) -> Vec<String> {
        lines(&self.trap_log())
    }

    /// The paths the internet host was asked for.
    fn site_requests(&self) -> Vec<String> {
        lines(&self.dir.path().join("site.log"))
    }

    /// Starts the internet host, the trap, and `itc-server` in home with `[chat] link_previews`.
    fn start(&mut self, previews: bool) -> ServerProcess {
        let mut site = exec(&self.ns("net"), "python3");
        site.args(["-c", SITE, SITE_IP]).arg(self.dir.path().join("site.log"));
        self.children.push(common::spawn_until_ready(site, "serving"));
        let mut trap = exec(&self.ns("home"), "python3");
        trap.args(["-c", TRAP]).arg(self.trap_log());
        self.children.push(common::spawn_until_ready(trap, "serving"));
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        common::write_config(&data, "", &format!("[chat]\nlink_previews = {previews}"));
        let mut server = exec(&self.ns("home"), common::server_binary());
        server.arg("--data-dir").arg(&data);
        ServerProcess::spawn_command(server).expect("itc-server starts in the home namespace")
    }

    /// Runs `work` on a thread inside the home namespace, on a runtime of its own.
    fn in_home<T: Send + 'static>(&self, work: impl std::future::Future<Output = T> + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.ns("home"));
        std::thread::spawn(move || {
            let namespace = std::fs::File::open(&path).expect("opens the namespace");
            nix::sched::setns(&namespace, nix::sched::CloneFlags::CLONE_NEWNET).expect("enters home");
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(work)
        })
        .join()
        .expect("the thread in home finishes")
    }
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for side in ["home", "net"] {
            let _ = Command::new("ip").args(["netns", "del", &self.ns(side)]).status();
        }
        let _ = std::fs::remove_dir_all(self.hosts_dir());
    }
}

/// Sends each link as a message and gathers the `link_preview` events that arrive, until the
/// last link's (which must give one) and then for 2 s more; by message body.
async fn previews_of(code: String, links: Vec<String>) -> HashMap<String, LinkPreview> {
    let target = Target::parse(&code).expect("code");
    let ann = Client::connect(&target, None).await.expect("connects");
    ann.register("ann", MEMBER_PASSWORD).await.expect("registers");
    let mut bob = Client::connect(&target, None).await.expect("connects");
    bob.register("bob", MEMBER_PASSWORD).await.expect("registers");
    let general = ann.find_channel("general").await.expect("general");
    let mut bodies: HashMap<MessageId, String> = HashMap::new();
    for link in &links {
        let body = format!("look: {link}");
        bodies.insert(ann.send(general.id, &body).await.expect("sent").id, link.clone());
    }
    let last = links.last().expect("links").clone();
    let mut found = HashMap::new();
    let mut deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = match tokio::time::timeout_at(deadline, bob.next_event()).await {
            Ok(event) => event.expect("connection open"),
            Err(_) => break,
        };
        if let Event::LinkPreview { message_id, preview, .. } = event {
            let link = bodies[&message_id].clone();
            if link == last {
                deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            }
            found.insert(link, preview);
        }
    }
    let history = ann.history(general.id, None, None).await.expect("history");
    for message in &history.messages {
        let link = &bodies[&message.id];
        assert_eq!(message.preview.as_deref(), found.get(link), "{link}: history shows what the event did");
    }
    found
}

#[test]
fn previews_reach_the_internet_and_never_this_network() {
    skip_unless_netns!("previews_reach_the_internet_and_never_this_network", &["python3"]);
    let mut lab = Lab::new();
    let server = lab.start(true);

    // The trap works: a connection from home to each of its addresses is logged.
    lab.in_home(async {
        for address in ["127.0.0.1:80", "[::1]:80", "10.77.0.1:80", "169.254.169.254:80"] {
            tokio::net::TcpStream::connect(address).await.expect("the trap accepts");
        }
    });
    let started = std::time::Instant::now();
    while lab.trapped().len() < 4 {
        assert!(started.elapsed() < WAIT, "the trap logged {:?}", lab.trapped());
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = lab.trapped().len();

    let site = |path: &str| format!("http://site.example{path}");
    let redirect = |to: &str| site(&format!("/to?u={to}"));
    let mut refused: Vec<String> = vec![
        "http://127.0.0.1/".into(),
        "http://[::1]/".into(),
        "http://[::ffff:127.0.0.1]/".into(),
        "http://10.77.0.1/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://private.example/".into(),
        "http://localhost/".into(),
        site("/chain?n=3"),
        site("/file.bin"),
    ];
    for target in [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.77.0.1/",
        "http://169.254.169.254/",
        "http://private.example/",
    ] {
        refused.push(redirect(target));
    }
    let allowed = [site("/chain?n=2"), format!("{}&x=1", redirect(&site("/page"))), site("/page")];
    let links: Vec<String> = refused.iter().chain(&allowed).cloned().collect();
    let found = lab.in_home(previews_of(server.code.clone(), links));

    for link in &allowed {
        let preview = found.get(link).unwrap_or_else(|| panic!("{link}: no preview in {found:?}"));
        assert_eq!(preview.url, *link);
        assert_eq!(preview.title.as_deref(), Some("Family picnic"));
        assert_eq!(preview.description.as_deref(), Some("Bring & share"));
        assert_eq!(preview.image.as_deref(), Some("http://site.example/picnic.jpg"));
    }
    for link in &refused {
        assert!(!found.contains_key(link), "{link} was previewed: {:?}", found[link]);
    }
    assert_eq!(lab.trapped().len(), before, "nothing reached this network's addresses: {:?}", lab.trapped());
    assert!(lab.site_requests().contains(&"/page".to_string()), "{:?}", lab.site_requests());
    drop(server);
}

#[test]
fn with_previews_off_the_server_fetches_nothing() {
    skip_unless_netns!("with_previews_off_the_server_fetches_nothing", &["python3"]);
    let mut lab = Lab::new();
    let server = lab.start(false);
    let found = lab.in_home(previews_of(server.code.clone(), vec![format!("http://{SITE_IP}/page")]));
    assert!(found.is_empty(), "{found:?}");
    assert!(lab.site_requests().is_empty(), "the site was asked for {:?}", lab.site_requests());
    drop(server);
}
