//! How failed calls come back: HTTP errors keep PostgREST's code, message
//! and hint and say whether a retry can help; timeouts, refused connections
//! and unreadable answers get their own variants. Uses the parent's server.

use std::time::{Duration, Instant};

use super::{assert_no_key, change, fixture, push_err};
use crate::model::Cursor;
use crate::remote::{Remote, RemoteError};

#[tokio::test]
async fn auth_and_missing_function_are_permanent() {
    let f = fixture().await;
    let e = push_err(&f, "s401").await;
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.code(), Some("PGRST301"));
    assert!(!e.is_retryable());

    let e = push_err(&f, "s404").await;
    assert_eq!(e.status(), Some(404));
    assert!(!e.is_retryable());
    let text = e.to_string();
    assert!(
        text.contains("/s404/rpc/ebb_push answered HTTP 404 (PGRST202)"),
        "{text}"
    );
    assert!(text.contains("hint: Perhaps you meant"), "{text}");
}

#[tokio::test]
async fn conflict_body_is_kept() {
    let f = fixture().await;
    let e = push_err(&f, "s409").await;
    let RemoteError::Http {
        status,
        code,
        message,
        details,
        ..
    } = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(*status, 409);
    assert_eq!(code.as_deref(), Some("23505"));
    assert!(message.contains("orders_pkey"));
    assert_eq!(details.as_deref(), Some("Key (id)=(o1) already exists."));
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn unavailable_and_proxy_errors_are_retryable() {
    let f = fixture().await;
    let e = push_err(&f, "s503").await;
    assert_eq!(e.status(), Some(503));
    assert_eq!(e.code(), Some("PGRST002"));
    assert_eq!(e.retry_after(), Some(Duration::ZERO));
    assert!(e.is_retryable());

    let e = push_err(&f, "s502").await;
    let RemoteError::Http { message, code, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(code, &None);
    assert!(message.starts_with("<html> <head><title>502 Bad Gateway</title>"));
    assert_eq!(message.chars().count(), 200);
    assert!(e.is_retryable());
}

#[tokio::test]
async fn unreadable_answers_are_protocol_errors() {
    let f = fixture().await;
    let e = f
        .client("short")
        .push(&[change("o1"), change("o2")])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RemoteError::Protocol { message, .. } if message == "0 results for 2 changes"),
        "{e:?}"
    );
    assert!(!e.is_retryable());

    let e = push_err(&f, "garbage").await;
    assert!(matches!(e, RemoteError::Protocol { .. }), "{e:?}");
    assert!(e.to_string().contains("sent a web page, not JSON"), "{e}");
    assert!(e.to_string().contains("rest_root"), "{e}");
    let e = push_err(&f, "empty").await;
    assert!(e.to_string().contains("the body is empty"), "{e}");
    let e = f
        .client("wrapped")
        .pull("orders", &Cursor::default(), 10)
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::Protocol { .. }), "{e:?}");
    assert!(
        e.to_string().contains(
            "wrapped as [{\"ebb_pull\": ...}]: this server is not answering as PostgREST"
        ),
        "{e}"
    );

    let e = f
        .client("loop")
        .pull("orders", &Cursor::default(), 10)
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::Protocol { .. }), "{e:?}");

    let e = f
        .client("ok")
        .pull("orders", &Cursor::default(), 0)
        .await
        .unwrap_err();
    assert!(matches!(e, RemoteError::Protocol { .. }), "{e:?}");
}

#[tokio::test]
async fn timeout_and_refused_connection() {
    let f = fixture().await;
    let client = f.client_at(&format!("{}/slow", f.base), Duration::from_millis(300));
    let start = Instant::now();
    let e = client.push(&[change("o1")]).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(e, RemoteError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert_no_key(&e);

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = f.client_at(
        &format!("http://127.0.0.1:{port}/x"),
        Duration::from_secs(2),
    );
    let e = client.push(&[change("o1")]).await.unwrap_err();
    let RemoteError::Network { endpoint, message } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(endpoint, &format!("http://127.0.0.1:{port}/x/rpc/ebb_push"));
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(e.is_retryable());
    assert_no_key(&e);
}
