//! The HTTP edge: axum, plain HTTP on loopback, and a listener that can drop a connection.
//!
//! Every request lands in one handler that sorts it into the token endpoint, a Graph
//! request (`/v1.0/...`, bearer token required) or the tenant's own dump endpoint, and
//! turns [`super::api`]'s response into HTTP with Graph's headers (`request-id`,
//! `client-request-id`, `Retry-After`, `WWW-Authenticate` on 401).
//!
//! A dropped connection (fault injection) must close the socket without a byte of response.
//! hyper writes only after the handler returns, so the handler flags the connection and the
//! connection's I/O ([`KillIo`]) fails every read and write from then on: hyper gives up on
//! the connection and closes it, and the client sees the connection end with no response.

use super::api::{ApiRequest, ApiResponse, Body, Outcome, Shared};
use super::auth::issue_token;
use super::error::GraphError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Graph's JSON content type.
const GRAPH_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// A TCP listener whose connections can be killed from a handler.
#[derive(Debug)]
pub struct KillListener(pub TcpListener);

/// A connection's handle, given to handlers as connect info.
#[derive(Debug, Clone)]
pub struct Conn {
    kill: Arc<AtomicBool>,
}

/// A TCP stream that fails all I/O once its kill flag is set.
#[derive(Debug)]
pub struct KillIo {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

fn killed() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "connection dropped by fault injection")
}

impl AsyncRead for KillIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Listener for KillListener {
    type Io = KillIo;
    type Addr = Conn;

    async fn accept(&mut self) -> (KillIo, Conn) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    return (KillIo { inner: stream, kill: kill.clone() }, Conn { kill });
                }
                Err(e) => {
                    tracing::debug!("test tenant accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Conn> {
        self.0.local_addr().map(|_| Conn { kill: Arc::new(AtomicBool::new(false)) })
    }
}

impl Connected<IncomingStream<'_, KillListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, KillListener>) -> Conn {
        stream.remote_addr().clone()
    }
}

/// Serves the tenant until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = Router::new().fallback(handle).with_state(shared);
    axum::serve(KillListener(listener), app.into_make_service_with_connect_info::<Conn>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// The local address a listener is bound to.
pub fn local_addr(listener: &TcpListener) -> io::Result<SocketAddr> {
    listener.local_addr()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    if let Some(rest) = path.strip_prefix("/v1.0").filter(|r| r.is_empty() || r.starts_with('/')) {
        let request_id = shared.next_request_id();
        let client_request_id =
            header_str(&headers, "client-request-id").map(str::to_string).unwrap_or_else(|| request_id.clone());
        let app = match shared.authenticate(header_str(&headers, "authorization")) {
            Ok(app) => app,
            Err(e) => return to_http(ApiResponse::error(&e, &request_id, &client_request_id), &client_request_id),
        };
        let req = ApiRequest {
            method: method.as_str(),
            path: rest,
            query,
            content_type: header_str(&headers, "content-type"),
            prefer: header_str(&headers, "prefer"),
            body: &body,
            client_request_id: &client_request_id,
        };
        return match shared.execute(app, &req, false, request_id.clone()) {
            Outcome::Respond(resp) => to_http(resp, &client_request_id),
            Outcome::Drop => {
                conn.kill.store(true, Ordering::SeqCst);
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        };
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] if method == Method::POST => token(&shared, tenant, &body),
        // The canonical dump, and the caller's admitted writes (for measuring how well a
        // client uses its budget): for tests and benchmarks, never part of Graph.
        ["_samla", what @ ("dump" | "writes")] if method == Method::GET => {
            let request_id = shared.next_request_id();
            match shared.authenticate(header_str(&headers, "authorization")) {
                Ok(app) => {
                    let st = shared.lock();
                    let body = if *what == "dump" {
                        st.dir.dump()
                    } else {
                        serde_json::json!({
                            "limit": super::throttle::APP_WRITES.0,
                            "window_seconds": super::throttle::APP_WRITES.1,
                            "arrivals": st.budgets.admitted_writes(app),
                        })
                    };
                    json_response(StatusCode::OK, &body, "application/json")
                }
                Err(e) => to_http(ApiResponse::error(&e, &request_id, &request_id), &request_id),
            }
        }
        _ => {
            let request_id = shared.next_request_id();
            let e = GraphError::new(
                404,
                "NotFound",
                format!("The samla test tenant serves /v1.0/... and /{{tenant}}/oauth2/v2.0/token, not {path}."),
            );
            to_http(ApiResponse::error(&e, &request_id, &request_id), &request_id)
        }
    }
}

/// The token endpoint.
fn token(shared: &Shared, tenant: &str, body: &[u8]) -> Response {
    let form: Vec<(String, String)> =
        url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let now = chrono::Utc::now();
    match issue_token(&shared.creds, tenant, &form, now.timestamp()) {
        Ok(token) => json_response(StatusCode::OK, &token, "application/json; charset=utf-8"),
        Err(e) => {
            let trace = shared.next_request_id();
            let correlation = shared.next_request_id();
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            json_response(status, &e.body(&trace, &correlation, now), "application/json; charset=utf-8")
        }
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value, content_type: &'static str) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    resp
}

/// A Graph response as HTTP, with Graph's headers.
fn to_http(r: ApiResponse, client_request_id: &str) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match &r.body {
        Body::Json(v) => json_response(status, v, GRAPH_JSON),
        Body::Text(ct, text) => {
            let mut resp = (status, *text).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            resp
        }
        Body::None => status.into_response(),
    };
    let h = resp.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set("request-id", &r.request_id);
    set("client-request-id", client_request_id);
    set("odata-version", "4.0");
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("Retry-After") {
            set("retry-after", v);
        }
    }
    if r.status == 401 {
        set(
            "www-authenticate",
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        );
    }
    resp
}
