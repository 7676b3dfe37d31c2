//! A fault proxy: a TCP forwarder in front of a database that a test can cut and restore.

use super::{Backend, TestDb};

/// A TCP proxy in front of a database that a test can cut (closing every connection and
/// refusing new ones) and restore, on a fixed port.
pub struct Proxy {
    pub port: u16,
    upstream: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    /// A proxy on a free port, not yet accepting (the database looks down).
    pub fn down(upstream: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self {
            port,
            upstream: upstream.to_string(),
            tasks: Default::default(),
        }
    }

    /// Starts accepting and forwarding.
    pub async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("proxy port");
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(forward);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes every connection and stops accepting.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The reader's URL of `db` through `proxy`.
pub fn url_through(db: &TestDb, proxy: &Proxy) -> String {
    let mut url = url::Url::parse(&db.reader_url).expect("reader URL");
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.port)).expect("port");
    url.to_string()
}

/// The local address of a backend's server.
pub fn upstream(backend: Backend) -> Option<String> {
    let url = url::Url::parse(&backend.admin_url()?).ok()?;
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default().unwrap_or(match backend {
            Backend::Postgres => 5432,
            _ => 3306,
        })
    ))
}
