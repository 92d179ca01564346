//! The SNMPv3 state of one sender: the user, our engine, what was learnt of each manager's
//! engine, the keys localised for each engine ID (once), and the msgID and salt counters.
//! No I/O here: the [`Sender`](crate::sink::snmp::Sender) moves the datagrams.

use std::collections::HashMap;
use std::time::Instant;

use rasn_snmp::v2;

use super::crypto::CryptoError;
use super::engine::{LocalEngine, MAX_ENGINE_VALUE};
use super::keys::{LocalizedKeys, localize_user};
use super::message::{UsmHeader, V3Envelope, encode_v3_into, encode_v3_notification};
use super::{PrivProtocol, UsmUser};
use crate::record::Trap;
use crate::sink::snmp::{EncodeError, PduKind};

/// How a sender speaks SNMPv3.
#[derive(Debug, Clone)]
pub struct V3Config {
    pub user: UsmUser,
    /// Our engine (authoritative for traps), with this run's boots already counted.
    pub engine: LocalEngine,
    /// `contextName` of the ScopedPDU (empty by default, as net-snmp's).
    pub context_name: Vec<u8>,
}

/// What a manager's engine told us in a Report (RFC 3414 §4), and when.
#[derive(Debug, Clone)]
pub struct RemoteEngine {
    pub id: Vec<u8>,
    pub boots: u32,
    pub time: u32,
    learned: Instant,
}

impl RemoteEngine {
    /// The manager's `snmpEngineTime` now, as we estimate it (RFC 3414 §3.2 step 7b keeps it
    /// advancing from the last value learnt).
    pub fn time_now(&self) -> u32 {
        let elapsed = self.learned.elapsed().as_secs();
        (u64::from(self.time) + elapsed).min(u64::from(MAX_ENGINE_VALUE)) as u32
    }
}

/// Sender-side SNMPv3 state.
#[derive(Debug)]
pub struct V3Session {
    config: V3Config,
    /// The user's keys localised to our engine ID, for traps.
    local_keys: LocalizedKeys,
    /// Keys localised to managers' engine IDs, for informs: once per engine ID.
    remote_keys: HashMap<Vec<u8>, LocalizedKeys>,
    /// Discovered engines, per destination (index in the sender's list).
    remote_engines: HashMap<usize, RemoteEngine>,
    next_message_id: i32,
    next_salt: u64,
}

impl V3Session {
    pub fn new(config: V3Config, seed: u32) -> Result<V3Session, CryptoError> {
        let local_keys = localize_user(&config.user, config.engine.id.as_bytes())?;
        Ok(V3Session {
            config,
            local_keys,
            remote_keys: HashMap::new(),
            remote_engines: HashMap::new(),
            next_message_id: (seed & 0x7fff_ffff).max(1) as i32,
            // A salt must not repeat under one key across restarts either: start from the
            // seed, mixed with the boots that make this run unique.
            next_salt: u64::from(seed) ^ (u64::from(0x9e37_79b9u32) << 32),
        })
    }

    pub fn config(&self) -> &V3Config {
        &self.config
    }

    fn take_message_id(&mut self) -> i32 {
        let id = self.next_message_id;
        self.next_message_id = if id == i32::MAX { 1 } else { id + 1 };
        id
    }

    /// The next salt. DES puts our boots in the high half (RFC 3414 §8.1.1.1) and a counter
    /// in the low half; AES uses all 64 bits as a counter (RFC 3826 §3.1.2.1).
    fn take_salt(&mut self) -> u64 {
        let counter = self.next_salt;
        self.next_salt = self.next_salt.wrapping_add(1);
        match self.config.user.privacy {
            Some((PrivProtocol::Des, _)) => {
                (u64::from(self.config.engine.boots) << 32) | (counter & 0xffff_ffff)
            }
            _ => counter,
        }
    }

    /// Encodes a trap: we are the authoritative engine, with our boots and time, and our
    /// engine ID as contextEngineID too.
    pub fn encode_trap(
        &mut self,
        trap: &Trap,
        request_id: i32,
        uptime: u32,
        buffer: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let message_id = self.take_message_id();
        let salt = self.take_salt();
        let engine = &self.config.engine;
        let envelope = V3Envelope {
            message_id,
            reportable: false,
            engine_id: engine.id.as_bytes(),
            boots: engine.boots,
            time: engine.time(),
            user: self.config.user.name.as_bytes(),
            context_engine_id: engine.id.as_bytes(),
            context_name: &self.config.context_name,
            salt,
        };
        encode_v3_notification(
            trap,
            PduKind::Trap,
            request_id,
            uptime,
            &envelope,
            &self.local_keys,
            buffer,
        )
    }

    /// The discovery probe (RFC 3414 §4): reportable, noAuthNoPriv, no engine ID, no user,
    /// an empty GetRequest. Returns its msgID.
    pub fn encode_discovery(&mut self, buffer: &mut Vec<u8>) -> Result<i32, EncodeError> {
        let message_id = self.take_message_id();
        let envelope = V3Envelope {
            message_id,
            reportable: true,
            engine_id: &[],
            boots: 0,
            time: 0,
            user: &[],
            context_engine_id: &[],
            context_name: &[],
            salt: 0,
        };
        let probe = v2::Pdus::GetRequest(v2::GetRequest(v2::Pdu {
            request_id: message_id,
            error_status: 0,
            error_index: 0,
            variable_bindings: Vec::new(),
        }));
        encode_v3_into(probe, &envelope, &LocalizedKeys::none(), buffer)
            .map_err(|e| EncodeError::V3(e.to_string()))?;
        Ok(message_id)
    }

    /// Whether the engine of destination `target` is known.
    pub fn knows(&self, target: usize) -> bool {
        self.remote_engines.contains_key(&target)
    }

    /// Records what a Report or Response said about destination `target`'s engine, and
    /// localises the keys for its engine ID when it is new.
    pub fn learn(&mut self, target: usize, header: &UsmHeader) -> Result<(), CryptoError> {
        if !self.remote_keys.contains_key(&header.engine_id) {
            let keys = localize_user(&self.config.user, &header.engine_id)?;
            self.remote_keys.insert(header.engine_id.clone(), keys);
        }
        self.remote_engines.insert(
            target,
            RemoteEngine {
                id: header.engine_id.clone(),
                boots: header.boots,
                time: header.time,
                learned: Instant::now(),
            },
        );
        Ok(())
    }

    /// Forgets destination `target`'s engine (it is discovered again on next use).
    pub fn forget(&mut self, target: usize) {
        self.remote_engines.remove(&target);
    }

    pub fn remote_engine(&self, target: usize) -> Option<&RemoteEngine> {
        self.remote_engines.get(&target)
    }

    /// The keys for messages to and from destination `target` (none before discovery).
    pub fn remote_keys(&self, target: usize) -> Option<&LocalizedKeys> {
        let engine = self.remote_engines.get(&target)?;
        self.remote_keys.get(&engine.id)
    }

    /// Encodes one inform attempt for destination `target`, whose engine must be known: the
    /// manager is authoritative. Each attempt is a new message (new msgID, new salt, current
    /// time) carrying the same request-id. Returns the msgID.
    pub fn encode_inform(
        &mut self,
        target: usize,
        trap: &Trap,
        request_id: i32,
        uptime: u32,
        buffer: &mut Vec<u8>,
    ) -> Result<i32, EncodeError> {
        let message_id = self.take_message_id();
        let salt = self.take_salt();
        let (Some(engine), Some(keys)) =
            (self.remote_engines.get(&target), self.remote_keys(target))
        else {
            return Err(EncodeError::V3(
                "the manager's engine is not discovered yet".into(),
            ));
        };
        let envelope = V3Envelope {
            message_id,
            reportable: true,
            engine_id: &engine.id,
            boots: engine.boots,
            time: engine.time_now(),
            user: self.config.user.name.as_bytes(),
            context_engine_id: &engine.id,
            context_name: &self.config.context_name,
            salt,
        };
        encode_v3_notification(
            trap,
            PduKind::InformRequest,
            request_id,
            uptime,
            &envelope,
            keys,
            buffer,
        )?;
        Ok(message_id)
    }
}
