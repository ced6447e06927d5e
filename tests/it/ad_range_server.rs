//! A tiny LDAPv3 server that answers like Active Directory where our real test servers cannot.
//!
//! Why it exists: Active Directory never returns more than `MaxValRange` (1,500) values of one
//! attribute in one answer. Asked plainly for `member` of a group with 5,000 members, AD answers
//! `member;range=0-1499` with the first 1,500 values, *unasked*; the client must notice the option
//! and follow with base-scope searches for `member;range=1500-*`, answered `member;range=1500-2999`,
//! and so on until a name ends in `-*` (`member;range=4500-*`). OpenLDAP has no ranged retrieval at
//! all, and Samba only answers explicit `member;range=a-b` requests, so neither can test a
//! client's range handling. This server can, and logs every search it receives so that tests can
//! assert on the follow-ups.
//!
//! What it speaks (LDAPv3 BER, hand-rolled, over plain TCP on 127.0.0.1):
//! - BindRequest (simple): any bind succeeds unless [`AdRangeServer::with_credentials`] was called;
//!   then a wrong DN or password gets invalidCredentials (49) with AD's `80090308 ... data 52e`
//!   text, an empty password binds anonymously as AD does, and a search before a successful bind
//!   gets operationsError (1) with AD's `000004DC` text. SASL gets authMethodNotSupported (7).
//! - SearchRequest: base/one/subtree scope over the given entries (DNs compared case-insensitively),
//!   the parents of the entries exist implicitly (a search based there succeeds, they are not
//!   returned as entries), a filter of and/or/not/equality/presence (anything else matches every entry), sizeLimit,
//!   typesOnly, the attribute list (`*` or none = all, `1.1` = none, `attr;range=lo-hi|lo-*`),
//!   the paged results control 1.2.840.113556.1.4.319 (cookie = offset), and AD's noSuchObject
//!   (32) `0000208D` text for a missing base. Base "" with base scope is a small root DSE.
//!   An unknown critical control gets unavailableCriticalExtension (12).
//! - UnbindRequest closes; AbandonRequest is ignored; extended operations (StartTLS too) get
//!   protocolError (2); add/modify/delete/modDN/compare get unwillingToPerform (53).
//! - Malformed input closes the connection; nothing here panics on what a client sends.
//!
//! The server stops on drop: the listener closes and every connection thread is joined.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConn, Scope, SearchEntry};
use std::process::Command;

/// One directory entry: `(dn, [(attribute, values)])`.
pub type ServerEntry = (String, Vec<(String, Vec<Vec<u8>>)>);

/// Open connections: a clone of each socket (to shut it down) and its thread.
type Connections = Arc<Mutex<Vec<(TcpStream, JoinHandle<()>)>>>;
/// A requested `;range=lo-hi` (`None` for `*`).
type Range = (usize, Option<usize>);

const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";
/// Client messages are small; anything bigger is an attack or a bug: close.
const MAX_MESSAGE: usize = 1 << 20;
/// Nesting limit for filters (and/or/not).
const MAX_FILTER_DEPTH: usize = 32;

const AD_INVALID_CREDENTIALS: &str =
    "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563";
const AD_NO_OBJECT: &str = "0000208D: NameErr: DSID-0310020A, problem 2001 (NO_OBJECT), data 0, best match of:";
const AD_BIND_FIRST: &str = "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this \
     operation a successful bind must be completed on the connection., data 0, v4563";

/// A running server; see the module documentation. Stopped on drop.
pub struct AdRangeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    conns: Connections,
}

struct Shared {
    entries: Vec<ServerEntry>,
    max_val_range: usize,
    credentials: Mutex<Option<(String, String)>>,
    requests: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a server on 127.0.0.1 (a free port) holding `entries`, splitting any attribute with
/// more than `max_val_range` values (AD's MaxValRange is 1,500; 0 means no limit).
pub fn start(entries: Vec<ServerEntry>, max_val_range: usize) -> AdRangeServer {
    AdRangeServer::start(entries, max_val_range)
}

impl AdRangeServer {
    /// See [`start`].
    pub fn start(entries: Vec<ServerEntry>, max_val_range: usize) -> AdRangeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for AdRangeServer");
        let addr = listener.local_addr().expect("local address of AdRangeServer");
        listener.set_nonblocking(true).expect("non-blocking AdRangeServer listener");
        let shared = Arc::new(Shared {
            entries,
            max_val_range: if max_val_range == 0 { usize::MAX } else { max_val_range },
            credentials: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Connections = Arc::default();
        let accept = {
            let (shared, stop, conns) = (shared.clone(), stop.clone(), conns.clone());
            std::thread::spawn(move || accept_loop(listener, shared, stop, conns))
        };
        AdRangeServer { addr, shared, stop, accept: Some(accept), conns }
    }

    /// Requires a simple bind as `dn` (compared case-insensitively) with `password` before searches.
    pub fn with_credentials(self, dn: &str, password: &str) -> Self {
        *lock(&self.shared.credentials) = Some((dn.to_string(), password.to_string()));
        self
    }

    /// `ldap://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ldap://{}", self.addr)
    }

    /// Every search received so far, in order, as `base=<dn> scope=<base|one|sub> attrs=<a,b,...>`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }
}

impl Drop for AdRangeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let conns = std::mem::take(&mut *lock(&self.conns));
        for (stream, handle) in conns {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>, conns: Connections) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let Ok(handle_side) = stream.try_clone() else {
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let handle = std::thread::spawn(move || serve(&shared, stream));
                let mut conns = lock(&conns);
                conns.retain(|(_, h)| !h.is_finished());
                conns.push((handle_side, handle));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    } // the listener drops here: nothing listens any more
}

/// One connection: read whole LDAP messages, answer each in order. The socket is shut down at the
/// end (the accept loop holds a clone of it, which would otherwise keep it open).
fn serve(shared: &Shared, mut stream: TcpStream) {
    converse(shared, &mut stream);
    let _ = stream.shutdown(Shutdown::Both);
}

fn converse(shared: &Shared, stream: &mut TcpStream) {
    let mut conn = Conn { bound: false };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        loop {
            let n = match frame_len(&buf) {
                Frame::Complete(n) => n,
                Frame::Incomplete => break,
                Frame::Bad => return,
            };
            let message: Vec<u8> = buf.drain(..n).collect();
            match conn.handle(shared, &message) {
                Some(reply) => {
                    if !reply.is_empty() && stream.write_all(&reply).is_err() {
                        return;
                    }
                }
                None => return, // unbind or malformed
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// BER: just what LDAP needs (low tag numbers, definite lengths).

enum Frame {
    Complete(usize),
    Incomplete,
    Bad,
}

/// The length of the first whole TLV in `buf`, if it is all there.
fn frame_len(buf: &[u8]) -> Frame {
    if buf.len() < 2 {
        return Frame::Incomplete;
    }
    if buf[0] != 0x30 {
        return Frame::Bad;
    }
    let (hdr, len) = match buf[1] {
        l if l < 0x80 => (2, l as usize),
        0x80 => return Frame::Bad, // indefinite length: not in LDAP
        l => {
            let n = (l & 0x7f) as usize;
            if n > 4 {
                return Frame::Bad;
            }
            if buf.len() < 2 + n {
                return Frame::Incomplete;
            }
            (2 + n, buf[2..2 + n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
        }
    };
    match hdr.checked_add(len) {
        Some(total) if total <= MAX_MESSAGE => {
            if buf.len() >= total {
                Frame::Complete(total)
            } else {
                Frame::Incomplete
            }
        }
        _ => Frame::Bad,
    }
}

#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Splits the first TLV off a complete buffer; None if malformed.
fn take_tlv(buf: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *buf.first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers: not in LDAP
    }
    let first = *buf.get(1)?;
    let (hdr, len) = if first < 0x80 {
        (2, first as usize)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = buf.get(2..2 + n)?;
        (2 + n, bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
    };
    let body = buf.get(hdr..hdr.checked_add(len)?)?;
    Some((Tlv { tag, body }, &buf[hdr + len..]))
}

/// All TLVs inside a constructed body; None if any is malformed.
fn children(body: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (t, r) = take_tlv(rest)?;
        out.push(t);
        rest = r;
    }
    Some(out)
}

fn parse_int(body: &[u8]) -> Option<i64> {
    if body.is_empty() || body.len() > 8 {
        return None;
    }
    let init: i64 = if body[0] & 0x80 != 0 { -1 } else { 0 };
    Some(body.iter().fold(init, |acc, b| (acc << 8) | *b as i64))
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn ber(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(tag);
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}

fn ber_int(tag: u8, v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    ber(tag, &bytes[start..])
}

fn ber_seq(tag: u8, parts: &[Vec<u8>]) -> Vec<u8> {
    ber(tag, &parts.concat())
}

fn octets(v: &[u8]) -> Vec<u8> {
    ber(0x04, v)
}

fn message(id: i64, op: Vec<u8>, controls: Option<Vec<u8>>) -> Vec<u8> {
    let mut parts = vec![ber_int(0x02, id), op];
    parts.extend(controls);
    ber_seq(0x30, &parts)
}

/// An LDAPResult-shaped operation (BindResponse, SearchResultDone, ...).
fn result_op(tag: u8, code: i64, matched: &str, diag: &str) -> Vec<u8> {
    ber_seq(tag, &[ber_int(0x0a, code), octets(matched.as_bytes()), octets(diag.as_bytes())])
}

// ---------------------------------------------------------------------------------------------
// LDAP operations.

struct Conn {
    bound: bool,
}

struct Control {
    oid: String,
    critical: bool,
    value: Option<Vec<u8>>,
}

impl Conn {
    /// The reply bytes for one message (maybe empty), or None to close the connection.
    fn handle(&mut self, shared: &Shared, msg: &[u8]) -> Option<Vec<u8>> {
        let (outer, _) = take_tlv(msg)?;
        let parts = children(outer.body)?;
        let (id_tlv, op) = (parts.first()?, parts.get(1)?);
        if id_tlv.tag != 0x02 {
            return None;
        }
        let id = parse_int(id_tlv.body)?;
        let controls = match parts.get(2) {
            Some(t) if t.tag == 0xa0 => parse_controls(t.body)?,
            _ => Vec::new(),
        };
        match op.tag {
            0x60 => self.bind(shared, id, op.body),
            0x42 => None, // unbind
            0x63 => self.search(shared, id, op.body, &controls),
            0x50 => Some(Vec::new()), // abandon: every answer is already complete
            0x77 => Some(message(id, result_op(0x78, 2, "", "unsupported extended operation"), None)),
            // modify, add, delete, modDN, compare: a read-only server
            0x66 | 0x68 | 0x4a | 0x6c | 0x6e => {
                Some(message(id, result_op((op.tag + 1) | 0x20, 53, "", "read-only test server"), None))
            }
            _ => None,
        }
    }

    fn bind(&mut self, shared: &Shared, id: i64, body: &[u8]) -> Option<Vec<u8>> {
        let parts = children(body)?;
        let version = parse_int(parts.first()?.body)?;
        let name = text(parts.get(1)?.body);
        let auth = parts.get(2)?;
        let reply = |code, diag: &str| Some(message(id, result_op(0x61, code, "", diag), None));
        self.bound = false;
        if version != 3 {
            return reply(2, "only LDAPv3");
        }
        if auth.tag != 0x80 {
            return reply(7, "only simple binds");
        }
        let password = text(auth.body);
        let expected = lock(&shared.credentials).clone();
        match expected {
            None => self.bound = true,
            Some(_) if password.is_empty() => {} // AD: an unauthenticated bind succeeds, anonymously
            Some((dn, pw)) => {
                if dn_parts(&dn) != dn_parts(&name) || pw != password {
                    return reply(49, AD_INVALID_CREDENTIALS);
                }
                self.bound = true;
            }
        }
        reply(0, "")
    }

    fn search(&mut self, shared: &Shared, id: i64, body: &[u8], controls: &[Control]) -> Option<Vec<u8>> {
        let parts = children(body)?;
        if parts.len() != 8 {
            return None;
        }
        let base = text(parts[0].body);
        let scope = parse_int(parts[1].body)?;
        let size_limit = parse_int(parts[3].body)?.max(0) as usize;
        let types_only = parts[5].body.first().is_some_and(|b| *b != 0);
        let filter = parse_filter(parts[6], 0)?;
        let attrs: Vec<String> = children(parts[7].body)?.iter().map(|t| text(t.body)).collect();
        let scope_name = match scope {
            0 => "base",
            1 => "one",
            2 => "sub",
            _ => return None,
        };
        lock(&shared.requests).push(format!("base={base} scope={scope_name} attrs={}", attrs.join(",")));

        let done = |code, matched: &str, diag: &str, ctl: Option<Vec<u8>>| {
            message(id, result_op(0x65, code, matched, diag), ctl)
        };
        if lock(&shared.credentials).is_some() && !self.bound {
            return Some(done(1, "", AD_BIND_FIRST, None));
        }
        if let Some(c) = controls.iter().find(|c| c.critical && c.oid != PAGED_RESULTS_OID) {
            let diag = format!("unsupported critical control {}", c.oid);
            return Some(done(12, "", &diag, None));
        }
        let paged = match controls.iter().find(|c| c.oid == PAGED_RESULTS_OID) {
            Some(c) => Some(parse_paged(c.value.as_deref()?)?),
            None => None,
        };

        let want = Wanted::new(&attrs);
        let base_parts = dn_parts(&base);
        let root_dse;
        let candidates: Vec<&ServerEntry> = if base.is_empty() && scope == 0 {
            root_dse = shared.root_dse();
            vec![&root_dse]
        } else {
            if !base.is_empty() && !shared.exists(&base_parts) {
                let best = shared.best_match(&base_parts);
                let diag = format!("{AD_NO_OBJECT}\n\t'{best}'\n");
                return Some(done(32, &best, &diag, None));
            }
            shared
                .entries
                .iter()
                .filter(|e| in_scope(&dn_parts(&e.0), &base_parts, scope))
                .filter(|e| filter.matches(&e.1))
                .collect()
        };

        let mut out = Vec::new();
        let (slice, code, ctl) = match paged {
            Some((0, _)) => (&candidates[..0], 0, Some(paged_control(b""))),
            Some((size, offset)) => {
                let from = offset.min(candidates.len());
                let to = from.saturating_add(size).min(candidates.len());
                let cookie = if to < candidates.len() { to.to_string() } else { String::new() };
                (&candidates[from..to], 0, Some(paged_control(cookie.as_bytes())))
            }
            None if size_limit > 0 && candidates.len() > size_limit => (&candidates[..size_limit], 4, None),
            None => (&candidates[..], 0, None),
        };
        for entry in slice {
            out.extend(message(id, shared.entry_op(entry, &want, types_only), None));
        }
        out.extend(done(code, "", "", ctl));
        Some(out)
    }
}

fn parse_controls(body: &[u8]) -> Option<Vec<Control>> {
    children(body)?
        .into_iter()
        .map(|c| {
            let parts = children(c.body)?;
            let oid = text(parts.first()?.body);
            let mut critical = false;
            let mut value = None;
            for p in &parts[1..] {
                match p.tag {
                    0x01 => critical = p.body.first().is_some_and(|b| *b != 0),
                    0x04 => value = Some(p.body.to_vec()),
                    _ => return None,
                }
            }
            Some(Control { oid, critical, value })
        })
        .collect()
}

/// The paged results control's value: (page size, offset from the cookie).
fn parse_paged(value: &[u8]) -> Option<(usize, usize)> {
    let (seq, _) = take_tlv(value)?;
    let parts = children(seq.body)?;
    let size = parse_int(parts.first()?.body)?.max(0) as usize;
    let cookie = parts.get(1)?.body;
    let offset = if cookie.is_empty() { 0 } else { std::str::from_utf8(cookie).ok()?.parse().ok()? };
    Some((size, offset))
}

fn paged_control(cookie: &[u8]) -> Vec<u8> {
    let value = ber_seq(0x30, &[ber_int(0x02, 0), octets(cookie)]);
    ber_seq(0xa0, &[ber_seq(0x30, &[octets(PAGED_RESULTS_OID.as_bytes()), octets(&value)])])
}

enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Equal(String, Vec<u8>),
    Present(String),
    /// Substrings, ordering, approximate, extensible: not evaluated, every entry matches.
    Any,
}

fn parse_filter(t: Tlv<'_>, depth: usize) -> Option<Filter> {
    if depth > MAX_FILTER_DEPTH {
        return None;
    }
    let list =
        |body| -> Option<Vec<Filter>> { children(body)?.into_iter().map(|c| parse_filter(c, depth + 1)).collect() };
    Some(match t.tag {
        0xa0 => Filter::And(list(t.body)?),
        0xa1 => Filter::Or(list(t.body)?),
        0xa2 => Filter::Not(Box::new(parse_filter(take_tlv(t.body)?.0, depth + 1)?)),
        0xa3 => {
            let parts = children(t.body)?;
            Filter::Equal(text(parts.first()?.body), parts.get(1)?.body.to_vec())
        }
        0x87 => Filter::Present(text(t.body)),
        0xa4..=0xa9 => Filter::Any,
        _ => return None,
    })
}

impl Filter {
    fn matches(&self, attrs: &[(String, Vec<Vec<u8>>)]) -> bool {
        let values = |name: &str| attrs.iter().find(|(a, _)| a.eq_ignore_ascii_case(name)).map(|(_, v)| v);
        match self {
            Filter::And(fs) => fs.iter().all(|f| f.matches(attrs)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(attrs)),
            Filter::Not(f) => !f.matches(attrs),
            Filter::Present(a) if a.eq_ignore_ascii_case("objectClass") => true,
            Filter::Present(a) => values(a).is_some_and(|v| !v.is_empty()),
            Filter::Equal(a, want) => values(a).is_some_and(|vs| vs.iter().any(|v| v.eq_ignore_ascii_case(want))),
            Filter::Any => true,
        }
    }
}

/// A DN's RDNs as written (split at unescaped commas, untrimmed).
fn raw_rdns(dn: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                parts.push(&dn[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&dn[start..]);
    parts
}

/// A DN as lower-cased RDNs, spaces around `,` and `=` dropped: for comparing DNs.
fn dn_parts(dn: &str) -> Vec<String> {
    raw_rdns(dn)
        .into_iter()
        .map(|p| p.split('=').map(str::trim).collect::<Vec<_>>().join("=").to_lowercase())
        .filter(|p| !p.is_empty())
        .collect()
}

fn in_scope(dn: &[String], base: &[String], scope: i64) -> bool {
    dn.ends_with(base)
        && match scope {
            0 => dn.len() == base.len(),
            1 => dn.len() == base.len() + 1,
            _ => true,
        }
}

/// What the client asked for: all attributes, and/or named ones (maybe with a range option).
struct Wanted {
    all: bool,
    named: Vec<(String, Option<Range>)>,
}

impl Wanted {
    fn new(attrs: &[String]) -> Wanted {
        let mut named = Vec::new();
        let mut all = attrs.is_empty();
        for a in attrs {
            if a == "*" {
                all = true;
                continue;
            }
            let mut pieces = a.split(';');
            let name = pieces.next().unwrap_or_default().to_string();
            let range = pieces.find_map(|o| {
                let spec = o.to_ascii_lowercase().strip_prefix("range=")?.to_string();
                let (lo, hi) = spec.split_once('-')?;
                let hi = if hi == "*" { None } else { Some(hi.parse().ok()?) };
                Some((lo.parse().ok()?, hi))
            });
            named.push((name, range));
        }
        Wanted { all, named }
    }

    /// None: leave the attribute out; Some(None): plainly; Some(Some(range)): that range.
    fn lookup(&self, attr: &str) -> Option<Option<Range>> {
        match self.named.iter().find(|(n, _)| n.eq_ignore_ascii_case(attr)) {
            Some((_, range)) => Some(*range),
            None if self.all => Some(None),
            None => None,
        }
    }
}

impl Shared {
    fn entry_op(&self, (dn, attrs): &ServerEntry, want: &Wanted, types_only: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, values) in attrs {
            let Some(range) = want.lookup(name) else {
                continue;
            };
            let n = values.len();
            let (lo, hi) = match range {
                None if n <= self.max_val_range => {
                    out.push(partial_attribute(name, values, types_only));
                    continue;
                }
                None => (0, None),
                Some(r) => r,
            };
            // AD: at most MaxValRange values from `lo`; the name says where the slice ends,
            // `*` when it reaches the last value. A slice starting past the end is left out.
            let Some(last) = n.checked_sub(1) else {
                continue;
            };
            if lo > last || hi.is_some_and(|h| h < lo) {
                continue;
            }
            let end = hi.unwrap_or(usize::MAX).min(lo.saturating_add(self.max_val_range - 1)).min(last);
            let end_text = if end == last { "*".to_string() } else { end.to_string() };
            let ranged = format!("{name};range={lo}-{end_text}");
            out.push(partial_attribute(&ranged, &values[lo..=end], types_only));
        }
        ber_seq(0x64, &[octets(dn.as_bytes()), ber_seq(0x30, &out)])
    }

    fn root_dse(&self) -> ServerEntry {
        let all: Vec<Vec<String>> = self.entries.iter().map(|e| dn_parts(&e.0)).collect();
        let naming: Vec<Vec<u8>> = self
            .entries
            .iter()
            .zip(&all)
            .filter(|(_, p)| !all.iter().any(|q| q.len() < p.len() && p.ends_with(q)))
            .map(|(e, _)| e.0.clone().into_bytes())
            .collect();
        let attrs = vec![
            ("namingContexts".to_string(), naming),
            ("supportedLDAPVersion".to_string(), vec![b"3".to_vec()]),
            ("supportedControl".to_string(), vec![PAGED_RESULTS_OID.as_bytes().to_vec()]),
        ];
        (String::new(), attrs)
    }

    /// Whether a DN is an entry or an ancestor of one (parents exist implicitly).
    fn exists(&self, parts: &[String]) -> bool {
        self.entries.iter().any(|e| dn_parts(&e.0).ends_with(parts))
    }

    /// The longest existing ancestor of a DN that is not there (AD's "best match"), spelled as
    /// the entries spell it.
    fn best_match(&self, parts: &[String]) -> String {
        (1..parts.len())
            .map(|skip| &parts[skip..])
            .find_map(|tail| {
                let e = self.entries.iter().find(|e| dn_parts(&e.0).ends_with(tail))?;
                let raw = raw_rdns(&e.0);
                Some(raw[raw.len() - tail.len()..].iter().map(|r| r.trim()).collect::<Vec<_>>().join(","))
            })
            .unwrap_or_default()
    }
}

fn partial_attribute(name: &str, values: &[Vec<u8>], types_only: bool) -> Vec<u8> {
    let vals: Vec<Vec<u8>> = if types_only { Vec::new() } else { values.iter().map(|v| octets(v)).collect() };
    ber_seq(0x30, &[octets(name.as_bytes()), ber_seq(0x31, &vals)])
}

// ---------------------------------------------------------------------------------------------
// Checks of the server itself, with the real ldapsearch and with the ldap3 crate (plain #[test]s:
// this file is compiled only into the integration-test binary).

const BASE: &str = "DC=bjuv,DC=test";
const GROUP: &str = "CN=Alla anställda,OU=Grupper,DC=bjuv,DC=test";

fn member(i: usize) -> String {
    format!("CN=User {i:05},OU=Personal,DC=bjuv,DC=test")
}

fn estate(members: usize, users: usize) -> Vec<ServerEntry> {
    let s = |v: &str| vec![v.as_bytes().to_vec()];
    let mut entries = vec![
        (BASE.to_string(), vec![("objectClass".to_string(), s("domain"))]),
        ("OU=Grupper,DC=bjuv,DC=test".to_string(), vec![("ou".to_string(), s("Grupper"))]),
        ("OU=Personal,DC=bjuv,DC=test".to_string(), vec![("ou".to_string(), s("Personal"))]),
        (
            GROUP.to_string(),
            vec![
                ("objectClass".to_string(), vec![b"top".to_vec(), b"group".to_vec()]),
                ("cn".to_string(), s("Alla anställda")),
                ("member".to_string(), (0..members).map(|i| member(i).into_bytes()).collect()),
            ],
        ),
    ];
    for i in 0..users {
        entries.push((
            member(i),
            vec![
                ("objectClass".to_string(), vec![b"top".to_vec(), b"person".to_vec(), b"user".to_vec()]),
                ("cn".to_string(), s(&format!("User {i:05}"))),
                ("objectGUID".to_string(), vec![[0xff, i as u8].repeat(8)]), // not UTF-8
            ],
        ));
    }
    entries
}

/// ldapsearch is there wherever tests/run.sh ran; elsewhere these checks say so and pass.
fn ldapsearch(args: &[&str]) -> Option<String> {
    match Command::new("ldapsearch").args(args).output() {
        Ok(out) => {
            assert!(out.status.success(), "ldapsearch {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) if std::env::var_os("SAMLA_TEST_SERVERS").is_none() => {
            eprintln!("skipped: ldapsearch not runnable ({e}); tests/run.sh installs ldap-utils");
            None
        }
        Err(e) => panic!("ldapsearch not runnable although SAMLA_TEST_SERVERS is set: {e}"),
    }
}

fn lines_starting(out: &str, prefix: &str) -> usize {
    out.lines().filter(|l| l.starts_with(prefix)).count()
}

#[test]
fn ldapsearch_sees_ad_style_ranges() {
    let server = start(estate(5000, 0), 1500);
    let url = server.url();
    let Some(out) = ldapsearch(&["-x", "-LLL", "-H", &url, "-b", GROUP, "(objectClass=*)", "member"]) else {
        return;
    };
    assert_eq!(lines_starting(&out, "member;range=0-1499: "), 1500, "{out:.400}");
    assert_eq!(lines_starting(&out, "member:"), 0);

    let out =
        ldapsearch(&["-x", "-LLL", "-H", &url, "-b", GROUP, "-s", "base", "(objectClass=*)", "member;range=1500-*"])
            .unwrap_or_default();
    assert_eq!(lines_starting(&out, "member;range=1500-2999: "), 1500, "{out:.400}");
    let out =
        ldapsearch(&["-x", "-LLL", "-H", &url, "-b", GROUP, "-s", "base", "(objectClass=*)", "member;range=4500-*"])
            .unwrap_or_default();
    assert_eq!(lines_starting(&out, "member;range=4500-*: "), 500, "{out:.400}");
    assert!(out.contains(&format!("member;range=4500-*: {}", member(4999))));

    assert_eq!(
        server.requests(),
        [
            format!("base={GROUP} scope=sub attrs=member"),
            format!("base={GROUP} scope=base attrs=member;range=1500-*"),
            format!("base={GROUP} scope=base attrs=member;range=4500-*"),
        ]
    );
}

#[test]
fn ldapsearch_pages_with_the_paged_results_control() {
    let server = start(estate(10, 25), 1500);
    let url = server.url();
    let Some(out) =
        ldapsearch(&["-x", "-LLL", "-H", &url, "-b", BASE, "-E", "pr=7/noprompt", "(objectClass=user)", "cn"])
    else {
        return;
    };
    assert_eq!(lines_starting(&out, "dn: "), 25, "{out}");
    assert_eq!(server.requests().len(), 4, "25 entries in pages of 7: {:?}", server.requests());
}

#[test]
fn ldap3_follows_ranges_to_the_last_slice() {
    let server = start(estate(5000, 0), 1500).with_credentials("CN=Reader,DC=bjuv,DC=test", "pw");
    let mut ldap = LdapConn::new(&server.url()).unwrap();
    ldap.simple_bind("cn=reader, dc=bjuv, dc=test", "pw").unwrap().success().unwrap();

    let (entries, _) =
        ldap.search(GROUP, Scope::Base, "(objectClass=*)", vec!["member", "cn"]).unwrap().success().unwrap();
    let entry = SearchEntry::construct(entries.into_iter().next().unwrap());
    assert!(!entry.attrs.contains_key("member"));
    assert_eq!(entry.attrs["cn"], ["Alla anställda"]);
    let mut all = entry.attrs["member;range=0-1499"].clone();
    assert_eq!(all.len(), 1500);

    let mut names = Vec::new();
    loop {
        let ask = format!("member;range={}-*", all.len());
        let (entries, _) =
            ldap.search(GROUP, Scope::Base, "(objectClass=*)", vec![ask.as_str()]).unwrap().success().unwrap();
        let entry = SearchEntry::construct(entries.into_iter().next().unwrap());
        let (name, values) = entry.attrs.into_iter().next().unwrap();
        all.extend(values);
        names.push(name.clone());
        if name.ends_with("-*") {
            break;
        }
    }
    assert_eq!(names, ["member;range=1500-2999", "member;range=3000-4499", "member;range=4500-*"]);
    assert_eq!(all, (0..5000).map(member).collect::<Vec<_>>());

    // an explicit range ending early is honoured, and a small attribute is never split
    let (entries, _) = ldap
        .search(GROUP, Scope::Base, "(objectClass=*)", vec!["member;range=10-19", "objectClass"])
        .unwrap()
        .success()
        .unwrap();
    let entry = SearchEntry::construct(entries.into_iter().next().unwrap());
    assert_eq!(entry.attrs["member;range=10-19"], (10..20).map(member).collect::<Vec<_>>());
    assert_eq!(entry.attrs["objectClass"], ["top", "group"]);
    assert!(server.requests().contains(&format!("base={GROUP} scope=base attrs=member;range=1500-*")));
    ldap.unbind().unwrap();
}

#[test]
fn ldap3_pages_and_keeps_binary_values() {
    let server = start(estate(3, 10), 1500);
    let mut ldap = LdapConn::new(&server.url()).unwrap();
    let mut stream = ldap
        .streaming_search_with(
            vec![Box::new(EntriesOnly::new()) as Box<dyn Adapter<_, _>>, Box::new(PagedResults::new(4))],
            BASE,
            Scope::Subtree,
            "(&(objectClass=user)(!(cn=User 00003)))",
            vec!["objectGUID"],
        )
        .unwrap();
    let mut guids = Vec::new();
    while let Some(entry) = stream.next().unwrap() {
        let entry = SearchEntry::construct(entry);
        guids.push(entry.bin_attrs["objectGUID"][0][1]);
    }
    assert_eq!(stream.result().success().unwrap().rc, 0);
    assert_eq!(guids, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn ad_error_texts() {
    let server = start(estate(2, 2), 1500).with_credentials("CN=Reader,DC=bjuv,DC=test", "pw");
    let mut ldap = LdapConn::new(&server.url()).unwrap();
    let res = ldap.simple_bind("CN=Reader,DC=bjuv,DC=test", "wrong").unwrap();
    assert_eq!((res.rc, res.text.as_str()), (49, AD_INVALID_CREDENTIALS));

    let res = ldap.search(BASE, Scope::Base, "(objectClass=*)", vec!["cn"]).unwrap();
    assert_eq!(res.1.rc, 1);
    assert!(res.1.text.starts_with("000004DC"), "{}", res.1.text);

    ldap.simple_bind("CN=Reader,DC=bjuv,DC=test", "pw").unwrap().success().unwrap();
    let res = ldap.search("OU=Saknas,DC=bjuv,DC=test", Scope::Subtree, "(objectClass=*)", vec!["cn"]).unwrap().1;
    assert_eq!(res.rc, 32);
    assert!(res.text.starts_with(AD_NO_OBJECT), "{}", res.text);
    assert_eq!(res.matched, BASE);

    // parents of the entries exist implicitly; the best match is spelled as the entries spell it
    let (entries, res) = ldap.search("dc=TEST", Scope::Base, "(objectClass=*)", vec!["cn"]).unwrap().success().unwrap();
    assert_eq!((entries.len(), res.rc), (0, 0));
    let res =
        ldap.search("ou=saknas, ou=grupper,dc=bjuv,dc=test", Scope::Base, "(objectClass=*)", vec!["cn"]).unwrap().1;
    assert_eq!((res.rc, res.matched.as_str()), (32, "OU=Grupper,DC=bjuv,DC=test"));
}

#[test]
fn bad_input_closes_the_connection_and_drop_stops_listening() {
    let server = start(estate(1, 1), 1500);
    let addr = server.addr;
    for junk in
        [&b"\x30\x84\xff\xff\xff\xff"[..], b"\x01\x02\x03", b"\x30\x03\x02\x01", b"\x30\x05\x02\x01\x01\x7f\x00"]
    {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(junk).unwrap();
        let _ = s.shutdown(Shutdown::Write);
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest); // closed (or reset), not hung
    }
    // a client left connected does not keep the server alive
    let idle = TcpStream::connect(addr).unwrap();
    drop(server);
    assert!(TcpStream::connect(addr).is_err(), "still listening after drop");
    drop(idle);
}
