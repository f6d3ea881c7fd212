//! The notification channel (Arrow Plasma 11's way to learn of seals, used
//! when the store does not push awaited objects): off, being set up by a
//! task of its own (`subscribe.rs`), or live; and what the driver does when
//! it comes up, breaks or is stopped.

use std::io;
use std::path::PathBuf;

use plasma_protocol::ObjectId;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Driver, READS_PER_ROUND};
use crate::async_client::command::ReplyTo;
use crate::async_client::subscribe::{subscribe, Channel};
use crate::async_client::wire::Notifications;
use crate::error::{AsFutureError, CallError};

enum State {
    Off,
    /// `subscribe` runs in its own task; `done` delivers its result.
    Starting {
        task: JoinHandle<()>,
        done: oneshot::Receiver<Result<Channel, CallError>>,
        waiters: Vec<ReplyTo<Result<(), AsFutureError>>>,
    },
    Live {
        channel: Channel,
        notes: Notifications,
    },
}

/// What the channel has for the driver when it wakes it.
pub(super) enum ChannelEvent {
    /// Notifications may be readable.
    Readable,
    /// The setup finished.
    SetUp(Result<Channel, CallError>),
}

/// The notification channel of one client.
pub(super) struct NotificationChannel {
    /// The store's socket, to connect to.
    path: PathBuf,
    state: State,
}

impl NotificationChannel {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            state: State::Off,
        }
    }

    pub(super) fn is_live(&self) -> bool {
        matches!(self.state, State::Live { .. })
    }

    pub(super) fn is_off(&self) -> bool {
        matches!(self.state, State::Off)
    }

    /// Starts setting the channel up.
    pub(super) fn start(&mut self) {
        let path = self.path.clone();
        let (tx, done) = oneshot::channel();
        let task = tokio::spawn(async move {
            let _ = tx.send(subscribe(&path).await);
        });
        self.state = State::Starting {
            task,
            done,
            waiters: Vec::new(),
        };
    }

    /// Tells `reply` once the channel is up (at once if it is), starting
    /// the setup if the channel is off.
    pub(super) fn when_up(&mut self, reply: ReplyTo<Result<(), AsFutureError>>) {
        if self.is_off() {
            self.start();
        }
        match &mut self.state {
            State::Starting { waiters, .. } => waiters.push(reply),
            State::Live { .. } | State::Off => {
                let _ = reply.send(Ok(()));
            }
        }
    }

    /// Closes the channel, or stops setting it up (whose waiters get `err`).
    pub(super) fn stop(&mut self, err: &AsFutureError) {
        if let State::Starting { task, waiters, .. } =
            std::mem::replace(&mut self.state, State::Off)
        {
            task.abort();
            for w in waiters {
                let _ = w.send(Err(err.clone()));
            }
        }
    }

    /// The setup's result, if it has come.
    pub(super) fn setup_done(&mut self) -> Option<Result<Channel, CallError>> {
        let State::Starting { done, .. } = &mut self.state else {
            return None;
        };
        match done.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => None,
            Ok(result) => Some(result),
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(CallError::Disconnected)),
        }
    }

    /// Takes the setup's `result`: the channel is live or off, and the
    /// setup's waiters are told. `None` if no setup was under way.
    fn set_up(&mut self, result: Result<Channel, CallError>) -> Option<Result<(), AsFutureError>> {
        let State::Starting { waiters, .. } = std::mem::replace(&mut self.state, State::Off) else {
            return None;
        };
        let outcome = match result {
            Ok(channel) => {
                self.state = State::Live {
                    channel,
                    notes: Notifications::default(),
                };
                Ok(())
            }
            Err(e) => Err(AsFutureError::from(e)),
        };
        for w in waiters {
            let _ = w.send(outcome.clone());
        }
        Some(outcome)
    }

    /// Reads what notifications have come (`eager`: without waiting for
    /// tokio to see readiness) and hands each sealed id to `sealed`.
    /// Returns whether anything came, or `Err` if the channel is lost (closed
    /// by the store, or garbage on it).
    fn read(&mut self, eager: bool, mut sealed: impl FnMut(ObjectId)) -> Result<bool, ()> {
        let State::Live { channel, notes } = &mut self.state else {
            return Ok(false);
        };
        let mut progressed = false;
        let mut lost = false;
        for _ in 0..READS_PER_ROUND {
            match channel.socket.try_read(eager, |fd| notes.read_from(fd)) {
                Ok(0) => {
                    lost = true;
                    break;
                }
                Ok(_) => progressed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "reading notifications failed");
                    lost = true;
                    break;
                }
            }
        }
        let drained = notes.drain(|info| {
            if !info.is_deletion {
                sealed(info.object_id);
            }
        });
        if let Err(e) = drained {
            tracing::debug!(error = %e, "undecodable notification");
            lost = true;
        }
        if lost {
            self.state = State::Off;
            return Err(());
        }
        Ok(progressed)
    }

    /// Waits for notifications while live, the setup's result while
    /// starting, never while off.
    pub(super) async fn event(&mut self) -> ChannelEvent {
        match &mut self.state {
            State::Live { channel, .. } => {
                let _ = channel.socket.readable().await;
                ChannelEvent::Readable
            }
            State::Starting { done, .. } => {
                ChannelEvent::SetUp(done.await.unwrap_or(Err(CallError::Disconnected)))
            }
            State::Off => std::future::pending().await,
        }
    }
}

impl Driver {
    /// Fails every waiting future and closes (or stops setting up) the
    /// notification channel.
    pub(super) fn stop_channel(&mut self, err: &AsFutureError) {
        self.router.fail_all(err);
        self.awaits.unwant_all();
        self.fetches.forget_wanted();
        self.channel.stop(err);
        self.woke = true;
    }

    /// The channel's setup finished: once it is live, every awaited id is
    /// checked; if it failed, every waiting future gets the error.
    pub(super) fn on_setup(&mut self, result: Result<Channel, CallError>) {
        match self.channel.set_up(result) {
            None => return,
            Some(Ok(())) => {
                for id in self.router.ids() {
                    self.fetches.want(id);
                }
            }
            Some(Err(err)) => self.router.fail_all(&err),
        }
        self.woke = true;
    }

    /// Reads notifications; each seal of an awaited id is fetched in this
    /// round's Get. The store closed the channel (or sent garbage on it)
    /// while the request connection lives: set it up again, and check every
    /// awaited id again once it is up.
    pub(super) fn read_notifications(&mut self) -> bool {
        let router = &self.router;
        let fetches = &mut self.fetches;
        let read = self.channel.read(self.polling, |id| {
            if router.wants(&id) {
                fetches.want(id);
            }
        });
        match read {
            Ok(progressed) => progressed,
            Err(()) => {
                if !self.router.is_empty() {
                    self.channel.start();
                }
                true
            }
        }
    }
}
