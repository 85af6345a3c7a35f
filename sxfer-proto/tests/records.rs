//! Record-layer attacks on an established connection: every edit an
//! attacker on the wire can make is detected.

use crate::common;

use std::sync::Arc;

use common::*;
use sxfer_proto::handshake::{ClientConfig, Connection, Credential, ServerConfig, ServerPin};
use sxfer_proto::msgs::Message;
use sxfer_proto::record::suite::SuiteId;
use sxfer_proto::record::FRAME_HEADER_LEN;
use sxfer_proto::{CloseCode, Error};

fn established(suite: SuiteId) -> (Connection, Connection) {
    let identity = ed25519_identity(3);
    let config = Arc::new(ServerConfig { suites: vec![suite], ..ServerConfig::new(identity.clone()) });
    let pin = ServerPin::Fingerprint(identity.public().fingerprint());
    let client_config = ClientConfig { suites: vec![suite], ..ClientConfig::default() };
    let outcome = handshake(client_config, config, &pin, Credential::Anonymous, no_attacker);
    (outcome.client.expect("client").0, outcome.server.expect("server"))
}

/// Three records from the client: message, data, close. Returns the wire
/// bytes and the record boundaries.
fn three_records(client: &mut Connection) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let mut wire = Vec::new();
    let mut bounds = Vec::new();
    let mut mark = |wire: &Vec<u8>, start: usize| bounds.push(start..wire.len());
    let start = wire.len();
    client.send_message(&Message::Ack { transfer: 3, offset: 9 }, &mut wire).expect("send");
    mark(&wire, start);
    let start = wire.len();
    client.send_data(&[0x5a; 300], &mut wire).expect("send");
    mark(&wire, start);
    let start = wire.len();
    client.close(CloseCode::Normal, &mut wire).expect("close");
    mark(&wire, start);
    (wire, bounds)
}

#[test]
fn any_flipped_bit_in_any_record_fails() {
    for suite in SuiteId::ALL {
        let (mut client, _) = established(suite);
        let (wire, _) = three_records(&mut client);
        for byte in 0..wire.len() {
            // Every bit of the headers; one bit per byte elsewhere keeps it quick.
            let bits: Vec<u8> = if byte % 97 < 8 { (0..8).collect() } else { vec![(byte % 8) as u8] };
            for bit in bits {
                let (mut client, mut server) = established(suite);
                let (mut tampered, _) = three_records(&mut client);
                tampered[byte] ^= 1 << bit;
                let result = read_all(&mut server, &mut tampered).and_then(|_| server.end_of_stream());
                assert!(result.is_err(), "{suite:?}: byte {byte} bit {bit} went unnoticed");
            }
        }
    }
}

/// An attacker's rewrite of the wire, given the record boundaries.
type Edit = fn(&[u8], &[std::ops::Range<usize>]) -> Vec<u8>;

#[test]
fn dropped_duplicated_reordered_replayed_records_fail() {
    for suite in SuiteId::ALL {
        let edits: [(&str, Edit); 5] = [
            ("drop", |w, b| [&w[b[0].clone()], &w[b[2].clone()]].concat()),
            ("duplicate", |w, b| [&w[b[0].clone()], &w[b[0].clone()], &w[b[1].clone()], &w[b[2].clone()]].concat()),
            ("reorder", |w, b| [&w[b[1].clone()], &w[b[0].clone()], &w[b[2].clone()]].concat()),
            ("replay at end", |w, b| [w, &w[b[1].clone()]].concat()),
            ("cut mid-record", |w, b| w[..b[1].start + 7].to_vec()),
        ];
        for (what, edit) in edits {
            let (mut client, mut server) = established(suite);
            let (wire, bounds) = three_records(&mut client);
            let mut tampered = edit(&wire, &bounds);
            let result = read_all(&mut server, &mut tampered).and_then(|_| server.end_of_stream());
            assert!(result.is_err(), "{suite:?}: {what} went unnoticed");
        }
    }
}

#[test]
fn reflected_record_fails() {
    let (mut client, _server) = established(SuiteId::Aes256Gcm);
    let mut wire = Vec::new();
    client.send_message(&Message::Ack { transfer: 1, offset: 1 }, &mut wire).expect("send");
    // The attacker sends the client's own record back to it.
    assert_eq!(client.read(&mut wire).err(), Some(Error::Crypto));
}

#[test]
fn truncation_before_close_is_detected() {
    let (mut client, mut server) = established(SuiteId::Aes256Gcm);
    let (wire, bounds) = three_records(&mut client);
    // The attacker drops the Close record and ends the stream.
    let mut without_close = wire[..bounds[2].start].to_vec();
    read_all(&mut server, &mut without_close).expect("records before the cut are fine");
    assert_eq!(server.end_of_stream(), Err(Error::Truncated));
}

#[test]
fn records_after_close_are_refused() {
    let (mut client, mut server) = established(SuiteId::Aes256Gcm);
    let (mut wire, _) = three_records(&mut client);
    wire.extend_from_slice(&[0, 0, 0, 1, 0]);
    assert_eq!(read_all(&mut server, &mut wire).err(), Some(Error::PeerMisbehaved("bytes after close")));
}

#[test]
fn oversize_length_is_refused_before_buffering() {
    let (_, mut server) = established(SuiteId::Aes256Gcm);
    let mut header = vec![0x7f, 0xff, 0xff, 0xff];
    assert_eq!(server.read(&mut header).err(), Some(Error::Malformed("frame longer than the maximum")));
}

#[test]
fn key_updates_happen_and_keep_the_stream_intact() {
    for suite in SuiteId::ALL {
        let (mut client, mut server) = established(suite);
        client.set_key_update_after_for_testing(1000);
        server.set_key_update_after_for_testing(1000);
        let mut wire = Vec::new();
        for i in 0..20u8 {
            client.send_data(&[i; 600], &mut wire).expect("send");
        }
        client.close(CloseCode::Normal, &mut wire).expect("close");
        let events = read_all(&mut server, &mut wire).expect("read");
        let updates = events.iter().filter(|e| **e == OwnedEvent::KeyUpdate).count();
        assert_eq!(updates, 10, "{suite:?}: one update per 1000 bytes");
        let data: Vec<_> =
            events.into_iter().filter_map(|e| if let OwnedEvent::Data(d) = e { Some(d) } else { None }).collect();
        assert_eq!(data.len(), 20);
        assert!(data.iter().enumerate().all(|(i, d)| d == &vec![i as u8; 600]));
    }
}

#[test]
fn a_peer_that_never_updates_its_key_is_refused() {
    let (mut client, mut server) = established(SuiteId::Aes256Gcm);
    server.set_key_update_after_for_testing(1000); // the client keeps the default
    let mut wire = Vec::new();
    for _ in 0..4 {
        client.send_data(&vec![1; 1 << 20], &mut wire).expect("send");
    }
    let result = read_all(&mut server, &mut wire);
    assert!(matches!(result, Err(Error::PeerMisbehaved(_))), "{result:?}");
}

#[test]
fn large_records_round_trip_in_place() {
    let (mut client, mut server) = established(SuiteId::Aes256Gcm);
    let payload_len = sxfer_proto::record::MAX_PAYLOAD;
    let mut buf = Vec::with_capacity(sxfer_proto::record::Sealer::record_capacity(payload_len));
    buf.resize(sxfer_proto::record::PAYLOAD_OFFSET, 0);
    buf.extend((0..payload_len).map(|i| (i % 251) as u8));
    let capacity = buf.capacity();
    client.seal_data_in_place(&mut buf, 0).expect("seal");
    assert_eq!(buf.capacity(), capacity, "sealing in place must not reallocate");
    let wire_len = buf.len();
    let (event, used) = server.read(&mut buf).expect("open").expect("complete");
    assert_eq!(used, wire_len);
    match event {
        sxfer_proto::handshake::Event::Data(data) => {
            assert_eq!(data.len(), payload_len);
            assert!(data.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(wire_len, FRAME_HEADER_LEN + 1 + payload_len + 16);
}

#[test]
fn close_is_the_last_record_even_when_a_key_update_is_due() {
    // Some k makes the Close itself the record that crosses the threshold
    // (the handshake already used part of it): nothing may follow it.
    for k in 0..30 {
        let (mut client, mut server) = established(SuiteId::Aes256Gcm);
        client.set_key_update_after_for_testing(20);
        server.set_key_update_after_for_testing(20);
        let mut wire = Vec::new();
        for _ in 0..k {
            client.send_data(&[1], &mut wire).expect("send");
        }
        client.close(CloseCode::Normal, &mut wire).expect("close");
        let events = read_all(&mut server, &mut wire).unwrap_or_else(|e| panic!("k={k}: {e}"));
        assert_eq!(events.last(), Some(&OwnedEvent::Closed(CloseCode::Normal)));
        server.end_of_stream().expect("clean end");
    }
}
