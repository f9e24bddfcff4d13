//! `GET /api/events`: the event hub as Server-Sent Events, one `event:`
//! per [`crate::ops::events::Event`] with its number as `id:` and its JSON
//! as `data:`, and a comment line every `ops.sse_keepalive` while idle.
//!
//! A reader that falls more than `ops.event_buffer` events behind gets a
//! `dropped` event with how many it lost (counted for `GET /api/daemon`);
//! the daemon never waits for a reader. Streams end when the daemon stops.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::Api;
use crate::ops::events::{Event, Events, Stamped, stamp};

struct Reader {
    rx: Receiver<Arc<Stamped>>,
    stop: watch::Receiver<bool>,
    events: Events,
}

fn frame(s: &Stamped) -> SseEvent {
    SseEvent::default()
        .id(s.id.to_string())
        .event(s.kind)
        .data(s.json.clone())
}

pub(super) async fn events(
    State(api): State<Api>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let inner = &api.inner;
    let reader = Reader {
        rx: inner.events.subscribe(),
        stop: inner.stop.clone(),
        events: inner.events.clone(),
    };
    let stream = futures_util::stream::unfold(reader, |mut r| async move {
        if *r.stop.borrow() {
            return None;
        }
        let next = tokio::select! {
            next = r.rx.recv() => next,
            _ = r.stop.wait_for(|s| *s) => return None,
        };
        let out = match next {
            Ok(s) => frame(&s),
            Err(RecvError::Lagged(n)) => {
                r.events.note_dropped(n);
                frame(&stamp(0, &Event::Dropped { count: n }))
            }
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(out), r))
    });
    Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(inner.config.ops.sse_keepalive)
            .text("keep-alive"),
    )
}
