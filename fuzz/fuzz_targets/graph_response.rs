//! Reading Microsoft Graph's answers: `$batch` responses, GET answers and error bodies,
//! collection pages, the token endpoint's answer.
//!
//! Any bytes give a value or a typed error, never a panic, and what is read agrees with the
//! JSON: a `$batch` answer is read exactly when it holds a `responses` array, with one response
//! per element that has a string `id`, its status (0 when it does not fit), its body and its
//! `Retry-After`; a non-2xx GET is `ClientError::Graph` with that status, Graph's code, and a
//! message that is never empty; a page is read exactly when it has a `value` array, and its next
//! link is never the page itself; a login answer gives a token (non-empty, living at most a day)
//! only for 2xx, and a refusal never shows the client secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use samla::client::graph::{self, ClientError, Outcome};
use samla::config::secret::Secret;
use samla::execute::graph::worth_retrying;
use serde_json::Value;
use std::time::Duration;

const URL: &str = "https://graph.microsoft.com/v1.0/users?$select=id";
const SECRET: &str = "Qx8~s3cr3t.Value_42";

/// Statuses chosen by the first byte's upper six bits (others: `index * 11`).
const STATUSES: [u16; 16] = [200, 201, 204, 206, 400, 401, 403, 404, 409, 412, 424, 429, 500, 502, 503, 504];

fn check_batch(bytes: &[u8]) {
    let json: Option<Value> = serde_json::from_slice(bytes).ok();
    let elements = json.as_ref().and_then(|j| j.get("responses")).and_then(Value::as_array);
    let read = graph::read_batch_answer(bytes);
    let (Some(elements), Ok(responses)) = (elements, &read) else {
        assert!(elements.is_none() && read.is_err(), "{read:?}");
        return;
    };
    let with_id: Vec<&Value> = elements.iter().filter(|r| r.get("id").is_some_and(Value::is_string)).collect();
    assert_eq!(responses.len(), with_id.len());
    for (r, element) in responses.iter().zip(with_id) {
        assert_eq!(Some(r.id.as_str()), element.get("id").and_then(Value::as_str));
        let status = element.get("status").and_then(Value::as_u64);
        assert_eq!(u64::from(r.status), status.filter(|s| *s <= u64::from(u16::MAX)).unwrap_or(0));
        assert_eq!(r.body.as_ref(), element.get("body"));
        if let Some(d) = r.retry_after {
            assert!(element.get("headers").is_some_and(Value::is_object), "{element}");
            let _ = d.as_secs();
        }
        let outcome = Outcome { status: r.status, body: r.body.clone(), attempts: 1 };
        let _ = (outcome.is_success(), outcome.id(), outcome.error_code(), outcome.error_message());
        let _ = worth_retrying(&outcome);
    }
}

fn check_get(status: u16, bytes: &[u8]) {
    let json: Option<Value> = serde_json::from_slice(bytes).ok();
    match graph::read_answer(URL, status, bytes) {
        Ok(v) => {
            assert!((200..300).contains(&status));
            assert_eq!(Some(&v), json.as_ref().or(bytes.is_empty().then_some(&Value::Null)));
        }
        Err(ClientError::Graph { status: s, code, message }) => {
            assert_eq!(s, status);
            assert!(!(200..300).contains(&status));
            assert!(!message.is_empty());
            let error = json.as_ref().and_then(|j| j.get("error"));
            assert_eq!(Some(code.as_str()), error.and_then(|e| e.get("code")).and_then(Value::as_str).or(Some("")));
        }
        Err(ClientError::Other(why)) => {
            assert!((200..300).contains(&status) && json.is_none() && !bytes.is_empty(), "{why}");
        }
        Err(e) => panic!("unexpected error for a GET answer: {e}"),
    }
}

fn check_page(bytes: &[u8]) {
    let Ok(page) = serde_json::from_slice::<Value>(bytes) else { return };
    let items = page.get("value").and_then(Value::as_array).cloned();
    match graph::read_page(URL, page.clone()) {
        Ok((got, next)) => {
            assert_eq!(Some(got), items);
            assert_eq!(next.as_deref(), page.get("@odata.nextLink").and_then(Value::as_str));
            assert_ne!(next.as_deref(), Some(URL));
        }
        Err(ClientError::Other(why)) => {
            let same = page.get("@odata.nextLink").and_then(Value::as_str) == Some(URL);
            assert!(items.is_none() || same, "{why}");
        }
        Err(e) => panic!("unexpected error for a page: {e}"),
    }
}

fn check_token(status: u16, bytes: &[u8]) {
    let secret = Secret::new(SECRET);
    match graph::read_token(URL, status, bytes, Some(&secret)) {
        Ok((token, lifetime)) => {
            assert!((200..300).contains(&status));
            assert!(!token.expose().is_empty());
            assert!(lifetime <= Duration::from_secs(86_400));
        }
        Err(e @ ClientError::Login { .. }) => {
            assert!(!(200..300).contains(&status));
            let text = e.to_string();
            assert!(!text.contains(SECRET), "the secret shows in {text:?}");
        }
        Err(ClientError::Other(why)) => assert!((200..300).contains(&status), "{why}"),
        Err(e) => panic!("unexpected error for a login answer: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte: what the rest is (low two bits) and the HTTP status (the others).
    let Some((&head, bytes)) = data.split_first() else { return };
    let index = usize::from(head >> 2);
    let status = STATUSES.get(index).copied().unwrap_or(index as u16 * 11);
    match head & 3 {
        0 => check_batch(bytes),
        1 => check_get(status, bytes),
        2 => check_page(bytes),
        _ => check_token(status, bytes),
    }
});
