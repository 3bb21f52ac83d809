//! Job requests and cancels sent to the dispatchers for a token's submitter: published on
//! `<ns>.jobs` as the api role's own broker user (RabbitMQ checks `user_id`) with the
//! submitter in `x-netraven-submitter`, which the dispatcher believes only from the users
//! in `dispatcher.gateways`. The dispatcher's reply comes back on this process's private
//! queue, matched by correlation id. The connection is opened again when lost.

use futures::StreamExt;
use lapin::types::{AMQPValue, FieldTable};
use netraven_shared::broker::{self, Names, Outgoing, Publisher, SUBMITTER_HEADER, SUBMIT_KEY};
use netraven_shared::config::AmqpSettings;
use netraven_shared::messages::{CancelReply, JobCancel, JobReply, JobRequest, CANCEL_TYPE};
use netraven_shared::telemetry::Readiness;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Why a request did not reach the dispatcher, or got no answer.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot reach RabbitMQ: {0}")]
    Broker(#[from] netraven_shared::Error),
    #[error("cannot reach RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("no answer from a dispatcher within {0} ms")]
    NoAnswer(u64),
    #[error("the dispatcher's answer is not one: {0}")]
    BadAnswer(serde_json::Error),
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// One open connection: its publisher, its reply queue, who waits for what.
struct Inbox {
    connection: lapin::Connection,
    publisher: Publisher,
    queue: String,
    waiting: Waiting,
}

pub struct Gateway {
    amqp: AmqpSettings,
    names: Names,
    user: String,
    timeout: Duration,
    readiness: Arc<Readiness>,
    inbox: tokio::sync::Mutex<Option<Arc<Inbox>>>,
}

impl Gateway {
    pub fn new(
        amqp: &AmqpSettings,
        timeout: Duration,
        readiness: Arc<Readiness>,
    ) -> Result<Gateway, GatewayError> {
        Ok(Gateway {
            user: broker::user(amqp)?,
            amqp: amqp.clone(),
            names: Names::new(&amqp.namespace),
            timeout,
            readiness,
            inbox: tokio::sync::Mutex::new(None),
        })
    }

    /// The broker settings this role connects with (its own account).
    pub fn amqp(&self) -> &AmqpSettings {
        &self.amqp
    }

    /// Opens the connection now (for `/readyz`); later failures open it again on demand.
    pub async fn connect(&self) -> Result<(), GatewayError> {
        self.inbox().await.map(drop)
    }

    pub async fn close(&self) {
        if let Some(inbox) = self.inbox.lock().await.take() {
            let _ = inbox.connection.close(200, "api stopping".into()).await;
        }
    }

    async fn inbox(&self) -> Result<Arc<Inbox>, GatewayError> {
        let mut held = self.inbox.lock().await;
        if let Some(inbox) = held.as_ref() {
            if inbox.connection.status().connected() {
                return Ok(inbox.clone());
            }
        }
        *held = None;
        self.readiness.set_broker(false);
        let inbox = Arc::new(self.open().await?);
        *held = Some(inbox.clone());
        self.readiness.set_broker(true);
        Ok(inbox)
    }

    async fn open(&self) -> Result<Inbox, GatewayError> {
        let connection = broker::connect(&self.amqp, "api").await?;
        let channel = connection.create_channel().await?;
        if self.amqp.declare_topology {
            broker::declare_topology(&channel, &self.names, &self.amqp).await?;
        }
        let (queue, mut consumer) = broker::reply_queue(&channel).await?;
        let waiting: Waiting = Arc::default();
        let w = waiting.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let Some(id) = delivery.properties.correlation_id() else {
                    continue;
                };
                let sender = w.lock().ok().and_then(|mut m| m.remove(id.as_str()));
                if let Some(sender) = sender {
                    let _ = sender.send(delivery.data);
                }
            }
        });
        let publisher = Publisher::new(&connection, 1)
            .await?
            .with_confirm_timeout(Duration::from_millis(self.amqp.confirm_timeout_ms));
        Ok(Inbox {
            connection,
            publisher,
            queue,
            waiting,
        })
    }

    /// Sends `request` for `submitter` and waits for the dispatcher's reply.
    pub async fn submit(
        &self,
        request: &JobRequest,
        submitter: &str,
    ) -> Result<JobReply, GatewayError> {
        self.ask(None, request, submitter).await
    }

    /// Sends `cancel` for `submitter` and waits for the dispatcher's answer.
    pub async fn cancel(
        &self,
        cancel: &JobCancel,
        submitter: &str,
    ) -> Result<CancelReply, GatewayError> {
        self.ask(Some(CANCEL_TYPE), cancel, submitter).await
    }

    async fn ask<T: serde::Serialize, R: DeserializeOwned>(
        &self,
        kind: Option<&str>,
        body: &T,
        submitter: &str,
    ) -> Result<R, GatewayError> {
        let inbox = self.inbox().await?;
        let correlation = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = inbox.waiting.lock() {
            w.insert(correlation.clone(), tx);
        }
        let mut headers = FieldTable::default();
        headers.insert(
            SUBMITTER_HEADER.into(),
            AMQPValue::LongString(submitter.into()),
        );
        let mut props = broker::json_properties()
            .with_user_id(self.user.clone().into())
            .with_reply_to(inbox.queue.clone().into())
            .with_correlation_id(correlation.clone().into())
            .with_headers(headers);
        if let Some(kind) = kind {
            props = props.with_type(kind.into());
        }
        let msg =
            Outgoing::json(&self.names.jobs_exchange(), SUBMIT_KEY, body)?.with_properties(props);
        let sent = inbox.publisher.publish(msg).await;
        let answer = match sent {
            Ok(()) => tokio::time::timeout(self.timeout, rx).await,
            Err(e) => {
                self.forget(&inbox, &correlation);
                return Err(e.into());
            }
        };
        match answer {
            Ok(Ok(bytes)) => serde_json::from_slice(&bytes).map_err(GatewayError::BadAnswer),
            _ => {
                self.forget(&inbox, &correlation);
                Err(GatewayError::NoAnswer(self.timeout.as_millis() as u64))
            }
        }
    }

    fn forget(&self, inbox: &Inbox, correlation: &str) {
        if let Ok(mut w) = inbox.waiting.lock() {
            w.remove(correlation);
        }
    }
}
