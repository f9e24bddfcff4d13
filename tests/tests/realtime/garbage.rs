//! Garbage both ways, and nobody falls over: the gateway answers a socket
//! that sends malformed, binary, oversized and unknown frames as Phoenix
//! does (or drops them) and still answers its heartbeats; ebb's listener
//! facing a server that sends garbage ignores it, survives an oversized
//! frame by reconnecting, and still hands on the nudges that make sense.

use anyhow::{Context, Result, bail};
use ebb_tests::TestDb;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use super::common::{self, PATIENCE, Served};

/// The next text frame from `ws` as JSON.
async fn next_json<S>(ws: &mut S) -> Result<Value>
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let wait = async {
        while let Some(message) = ws.next().await {
            if let Message::Text(text) = message? {
                return Ok(serde_json::from_str(text.as_str())?);
            }
        }
        bail!("the socket closed")
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .context("no frame")?
}

#[tokio::test]
async fn the_gateway_shrugs_off_malformed_frames() -> Result<()> {
    let db = TestDb::create().await?;
    let key = common::key();
    let gateway = Served::start("127.0.0.1:0".parse()?, &db.conn_str(), &key).await?;
    let url = format!(
        "ws://{}/realtime/v1/websocket?apikey={key}&vsn=1.0.0",
        gateway.addr
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let huge = "x".repeat(200 << 10);
    for text in [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"topic":1,"event":2}"#,
        r#"{"topic":"realtime:ebb","event":"phx_join","payload":"no object","ref":"1"}"#,
        r#"{"topic":"realtime:ebb","event":"access_token","payload":{"access_token":7}}"#,
    ] {
        ws.send(Message::text(text)).await?;
    }
    ws.send(Message::binary(vec![3u8, 0, 255, 7])).await?;
    // The join with a payload that is not an object is still a join: no
    // config means a public channel, and the key as its token is fine.
    let reply = next_json(&mut ws).await?;
    assert_eq!(reply["event"], "phx_reply", "{reply}");
    let heartbeat = json!({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "hb"});
    ws.send(Message::text(heartbeat.to_string())).await?;
    loop {
        let frame = next_json(&mut ws).await?;
        if frame["ref"] == "hb" {
            assert_eq!(frame["payload"]["status"], "ok", "{frame}");
            break;
        }
    }
    // A frame over the gateway's limit ends this socket, not the gateway.
    let _ = ws.send(Message::text(huge)).await;
    let url = format!("ws://{}/realtime/v1/websocket?apikey={key}", gateway.addr);
    let (mut again, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    again.send(Message::text(heartbeat.to_string())).await?;
    assert_eq!(next_json(&mut again).await?["payload"]["status"], "ok");
    Ok(())
}

#[tokio::test]
async fn the_listener_shrugs_off_a_server_sending_garbage() -> Result<()> {
    let server = TcpListener::bind("127.0.0.1:0").await?;
    let addr = server.local_addr()?;
    let fake = tokio::spawn(async move {
        for round in 0..2 {
            let (tcp, _) = server.accept().await?;
            let mut ws = tokio_tungstenite::accept_async(tcp).await?;
            let join = next_json(&mut ws).await?;
            let reply = json!({"topic": join["topic"], "event": "phx_reply", "ref": join["ref"],
                               "payload": {"status": "ok", "response": {}}});
            ws.send(Message::text(reply.to_string())).await?;
            for text in [
                "garbage",
                "[1,2]",
                "{}",
                r#"{"topic":"realtime:ebb","event":"broadcast"}"#,
                r#"{"topic":"realtime:ebb","event":"broadcast","payload":{"event":"change","payload":{"table":""}}}"#,
                r#"{"topic":"realtime:ebb","event":"phx_reply","ref":[1]}"#,
            ] {
                ws.send(Message::text(text)).await?;
            }
            ws.send(Message::binary(vec![0u8; 64])).await?;
            let nudge = json!({"topic": "realtime:ebb", "event": "broadcast", "ref": null,
                "payload": {"type": "broadcast", "event": "change",
                            "payload": {"table": format!("t{round}"), "txid": "1"}}});
            ws.send(Message::text(nudge.to_string())).await?;
            if round == 0 {
                // Over the listener's 1 MiB limit: it must drop the socket.
                ws.send(Message::text("y".repeat(2 << 20))).await?;
            }
            while ws.next().await.is_some() {}
        }
        anyhow::Ok(())
    });
    let dir = tempfile::tempdir()?;
    let (_listener, mut nudges) = common::listen(&dir, &format!("http://{addr}"), "k", "")?;
    common::table(&mut nudges, "t0").await?;
    common::table(&mut nudges, "t1").await?;
    fake.abort();
    Ok(())
}
