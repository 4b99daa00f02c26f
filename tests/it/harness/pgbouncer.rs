//! A private PgBouncer in transaction pooling mode in front of the shared Postgres, owned by
//! one test: its own config in a temporary directory, a free port, killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct PgBouncer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PgBouncer {
    /// `server_connections`: PgBouncer's `default_pool_size`; small, so that clients share
    /// server connections and anything left on one is seen by another.
    pub async fn start(server_connections: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let server = url::Url::parse(&super::db::server_url()).expect("server url");
        let host = server.host_str().unwrap_or("127.0.0.1").to_owned();
        let server_port = server.port().unwrap_or(5432);
        let user = server.username().to_owned();
        let ini = format!(
            "[databases]\n* = host={host} port={server_port}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
             auth_type = trust\nauth_file = {users}\npool_mode = transaction\n\
             default_pool_size = {server_connections}\nmax_client_conn = 500\n\
             unix_socket_dir =\nlogfile = {log}\n\
             ignore_startup_parameters = extra_float_digits,options,application_name\n",
            users = dir.path().join("users.txt").display(),
            log = dir.path().join("pgbouncer.log").display(),
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).expect("write ini");
        std::fs::write(dir.path().join("users.txt"), format!("\"{user}\" \"\"\n"))
            .expect("write users");
        let mut bouncer = Self {
            child: None,
            dir,
            port,
        };
        bouncer.spawn().await;
        bouncer
    }

    async fn spawn(&mut self) {
        let dir = self.dir.path();
        let mut command = Command::new("pgbouncer");
        // PgBouncer refuses to run as root; the tests often are.
        if is_root() {
            chown_to_postgres(dir);
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pgbouncer (apt-get install pgbouncer)");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pgbouncer did not start: {}", self.log());
    }

    /// `url` (a test database on the shared server) through this PgBouncer.
    pub fn url_for(&self, url: &str) -> String {
        let mut parsed = url::Url::parse(url).expect("url");
        parsed.set_host(Some("127.0.0.1")).expect("host");
        parsed.set_port(Some(self.port)).expect("port");
        parsed.to_string()
    }

    /// Stops PgBouncer (every client connection drops) and starts it again on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn chown_to_postgres(dir: &std::path::Path) {
    let _ = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(dir)
        .status();
}
