//! What we publish and read: properties, headers, signatures over bodies.

use crate::messages::CloudEvent;
use crate::signing::{Signer, PROOF_HEADER, SIGNATURE_HEADER};
use crate::Result;
use lapin::types::AMQPValue;
use lapin::BasicProperties;
use serde::Serialize;

/// Header carrying why a message was dead-lettered by us.
pub const REASON_HEADER: &str = "x-netraven-reason";
/// Header naming the queue a dead-lettered message came from.
pub const SOURCE_HEADER: &str = "x-netraven-source";
/// Header keeping a dead letter's AMQP `user_id` (who published it, as the broker checked):
/// a copy published by anyone else may not carry the property itself.
pub const USER_HEADER: &str = "x-netraven-user-id";
/// Header naming, on a job request or a cancel from a gateway (the api role), the submitter
/// it is sent for. The dispatcher believes it only from users in `dispatcher.gateways`.
pub const SUBMITTER_HEADER: &str = "x-netraven-submitter";
/// Header RabbitMQ puts on a message it dead-lettered: the queue it came from.
pub const FIRST_DEATH_QUEUE_HEADER: &str = "x-first-death-queue";
/// Header RabbitMQ puts on a message it dead-lettered: why (`delivery_limit`, `rejected`, …).
pub const FIRST_DEATH_REASON_HEADER: &str = "x-first-death-reason";

/// Properties of every message we publish: persistent JSON.
pub fn json_properties() -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
}

/// Reads a string header (ours or the broker's).
pub fn header(props: &BasicProperties, name: &str) -> Option<String> {
    let headers = props.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// The CloudEvents attributes of a delivered event ([`Outgoing::cloud_event`]).
pub fn cloud_event(props: &BasicProperties) -> std::result::Result<CloudEvent, String> {
    CloudEvent::from_headers(|name| header(props, name))
}

/// One message to publish.
#[derive(Clone)]
pub struct Outgoing {
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    /// An unroutable mandatory message counts as failed. Events, which nobody may be
    /// listening to yet, are not mandatory.
    pub mandatory: bool,
}

impl Outgoing {
    pub fn json<T: Serialize>(exchange: &str, routing_key: &str, value: &T) -> Result<Outgoing> {
        Ok(Outgoing {
            exchange: exchange.to_string(),
            routing_key: routing_key.to_string(),
            body: serde_json::to_vec(value)?,
            properties: json_properties(),
            mandatory: true,
        })
    }

    /// Delivered if anyone listens, dropped by the broker (without error) otherwise.
    pub fn not_mandatory(mut self) -> Outgoing {
        self.mandatory = false;
        self
    }

    pub fn with_properties(mut self, properties: BasicProperties) -> Outgoing {
        self.properties = properties;
        self
    }

    /// An event in CloudEvents binary content mode: `event`'s attributes as
    /// `cloudEvents:*` headers, its id also as `message_id` and its time as `timestamp`
    /// (seconds), for AMQP tools that know only those. The body stays as it is; its
    /// `content_type` is the event's `datacontenttype`.
    pub fn cloud_event(mut self, event: &CloudEvent) -> Outgoing {
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        for (name, value) in event.headers() {
            headers.insert(name.into(), AMQPValue::LongString(value.into()));
        }
        self.properties = self
            .properties
            .with_headers(headers)
            .with_message_id(event.id.clone().into())
            .with_timestamp(event.time.timestamp().max(0) as u64);
        self
    }

    /// Carries `signer`'s signature over the body in [`SIGNATURE_HEADER`], so that the
    /// reader can tell the message from one altered or forged on the broker.
    pub fn signed(self, signer: &Signer) -> Outgoing {
        let signature = signer.sign(&self.body);
        self.with_signature(signature, None)
    }

    fn with_signature(mut self, signature: String, proof: Option<String>) -> Outgoing {
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        headers.insert(
            SIGNATURE_HEADER.into(),
            AMQPValue::LongString(signature.into()),
        );
        if let Some(proof) = proof {
            headers.insert(PROOF_HEADER.into(), AMQPValue::LongString(proof.into()));
        }
        self.properties = self.properties.with_headers(headers);
        self
    }
}

/// Signs `batch` in groups of [`GROUP`](crate::signing::GROUP) messages: one signature
/// per group, and each message's proof.
pub fn sign_all(batch: Vec<Outgoing>, signer: &Signer) -> Vec<Outgoing> {
    let mut out = Vec::with_capacity(batch.len());
    let mut rest = batch.into_iter().peekable();
    while rest.peek().is_some() {
        let group: Vec<Outgoing> = rest.by_ref().take(crate::signing::GROUP).collect();
        let bodies: Vec<&[u8]> = group.iter().map(|o| o.body.as_slice()).collect();
        let signed = signer.sign_group(&bodies);
        for (o, proof) in group.into_iter().zip(signed.proofs) {
            out.push(o.with_signature(signed.signature.clone(), Some(proof)));
        }
    }
    out
}

/// Whether `signed` by a trusted key: the message's signature and proof headers checked
/// against its body.
pub fn verify(
    verifier: &crate::signing::Verifier,
    body: &[u8],
    props: &BasicProperties,
) -> std::result::Result<(), crate::signing::Rejection> {
    let signature = header(props, SIGNATURE_HEADER);
    let proof = header(props, PROOF_HEADER);
    verifier.verify(body, signature.as_deref(), proof.as_deref())
}
