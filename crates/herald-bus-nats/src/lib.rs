//! The bus between Herald nodes over core NATS (`--bus nats://host:4222`).
//!
//! Announcements are tiny and at-most-once: NATS may drop one while
//! reconnecting, and the relay's periodic look at the database covers that.
//! Reconnection with backoff is the client's own; its connection events are
//! passed on so the relay can log them and catch up.

#![forbid(unsafe_code)]

use std::sync::Mutex;
use std::time::Duration;

use async_nats::{ConnectOptions, Event};
use futures_util::StreamExt;
use herald_core::cluster::{Announcement, BoxError, BoxFuture, Bus, BusEvent, BusListener};
use tokio::sync::mpsc;

/// A NATS connection used as the bus.
pub struct NatsBus {
    client: async_nats::Client,
    subject: String,
    events: Mutex<Option<mpsc::UnboundedReceiver<BusEvent>>>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus").field("subject", &self.subject).finish()
    }
}

impl NatsBus {
    /// Connects to `url` (retrying in the background if the server is not
    /// up yet) and uses `subject` for announcements.
    pub async fn connect(url: &str, subject: &str) -> Result<Self, BoxError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = ConnectOptions::new()
            .name("herald")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    let mapped = match event {
                        Event::Connected => Some(BusEvent::Connected),
                        Event::Disconnected => Some(BusEvent::Disconnected("the NATS connection was lost".into())),
                        Event::ClientError(e) => Some(BusEvent::Disconnected(format!("NATS client error: {e}"))),
                        _ => None,
                    };
                    if let Some(m) = mapped {
                        let _ = tx.send(m);
                    }
                }
            })
            .connect(url)
            .await?;
        Ok(Self { client, subject: subject.to_owned(), events: Mutex::new(Some(rx)) })
    }
}

impl Bus for NatsBus {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn announce<'a>(&'a self, announcements: &'a [Announcement]) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            for a in announcements {
                self.client.publish(self.subject.clone(), a.encode().into()).await?;
            }
            Ok(())
        })
    }

    fn listen(&self) -> Box<dyn BusListener> {
        // Connection events go to the first listener; the relay has one.
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
        Box::new(NatsListener { client: self.client.clone(), subject: self.subject.clone(), sub: None, events })
    }
}

struct NatsListener {
    client: async_nats::Client,
    subject: String,
    sub: Option<async_nats::Subscriber>,
    events: Option<mpsc::UnboundedReceiver<BusEvent>>,
}

async fn next_state(events: &mut Option<mpsc::UnboundedReceiver<BusEvent>>) -> Option<BusEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl BusListener for NatsListener {
    fn next_event(&mut self) -> BoxFuture<'_, BusEvent> {
        Box::pin(async move {
            loop {
                if self.sub.is_none() {
                    match self.client.subscribe(self.subject.clone()).await {
                        Ok(s) => self.sub = Some(s),
                        Err(e) => {
                            tracing::warn!(error = %e, "could not subscribe on NATS; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    }
                }
                let sub = self.sub.as_mut().expect("subscribed above");
                tokio::select! {
                    msg = sub.next() => match msg {
                        Some(m) => {
                            if let Some(a) = std::str::from_utf8(&m.payload).ok().and_then(Announcement::decode) {
                                return BusEvent::Announcement(a);
                            }
                        }
                        None => self.sub = None,
                    },
                    state = next_state(&mut self.events) => match state {
                        Some(e) => return e,
                        None => self.events = None,
                    },
                }
            }
        })
    }
}
