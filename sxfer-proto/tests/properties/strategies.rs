//! Strategies for wire values, each field within its maximum.

#![allow(clippy::unwrap_used)]

use super::*;

pub(crate) fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Bytes up to `max`: mostly short, sometimes any length, sometimes exactly `max`.
pub(crate) fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..=max.min(64)),
        2 => vec(any::<u8>(), 0..=max),
        1 => vec(any::<u8>(), max),
    ]
}

/// UTF-8 text of at least `min` characters and at most `max_bytes` bytes:
/// printable ASCII up to the limit, or arbitrary characters (up to 4 bytes each).
pub(crate) fn text(min: usize, max_bytes: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        vec(0x20u8..0x7f, min..=max_bytes).prop_map(|ascii| ascii.into_iter().map(char::from).collect()),
        vec(any::<char>(), min..=max_bytes / 4).prop_map(String::from_iter),
    ]
}

pub(crate) fn username() -> impl Strategy<Value = Username> {
    let pattern = format!("[a-z0-9][a-z0-9._-]{{0,{}}}", MAX_USERNAME - 1);
    string_regex(&pattern)
        .expect("a valid pattern")
        .prop_map(|name| Username::parse(&name).expect("the pattern only makes valid names"))
}

pub(crate) fn password_strategy() -> impl Strategy<Value = Password> {
    text(1, MAX_PASSWORD).prop_map(Password::new)
}

pub(crate) fn signature() -> impl Strategy<Value = Signature> {
    (select(vec![SignatureScheme::Ed25519, SignatureScheme::RsaSha256]), bytes(MAX_SIGNATURE))
        .prop_map(|(scheme, bytes)| Signature { scheme, bytes })
}

pub(crate) fn key_proof() -> impl Strategy<Value = KeyProof> {
    (bytes(MAX_PUBLIC_KEY), signature()).prop_map(|(public_key, signature)| KeyProof { public_key, signature })
}

pub(crate) fn client_auth() -> impl Strategy<Value = ClientAuth> {
    prop_oneof![
        (username(), password_strategy()).prop_map(|(username, password)| ClientAuth::Password { username, password }),
        (username(), key_proof()).prop_map(|(username, proof)| ClientAuth::PublicKey { username, proof }),
        (
            username(),
            prop_oneof![
                password_strategy().prop_map(|p| (Some(p), None)),
                key_proof().prop_map(|k| (None, Some(k))),
                (password_strategy(), key_proof()).prop_map(|(p, k)| (Some(p), Some(k))),
            ],
            proptest::option::of(vec(any::<u8>(), 1..=MAX_INVITE).prop_map(SecretBytes::new)),
        )
            .prop_map(|(username, (password, key), invite)| ClientAuth::Register {
                username,
                password,
                key,
                invite
            }),
        Just(ClientAuth::Anonymous),
        vec(any::<u8>(), 1..=MAX_PAKE_MESSAGE).prop_map(|message| ClientAuth::Pake { message }),
    ]
}

pub(crate) fn auth_result() -> impl Strategy<Value = AuthResult> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(|id| AuthResult::Accepted { client_id: ClientId(id) }),
        text(0, MAX_AUTH_MESSAGE).prop_map(|message| AuthResult::Rejected { message }),
        (vec(any::<u8>(), 1..=MAX_PAKE_MESSAGE), any::<[u8; 32]>())
            .prop_map(|(message, confirm)| AuthResult::Pake { message, confirm }),
    ]
}

/// A valid remote name: 1-4 segments, some at the 255-byte segment limit.
pub(crate) fn remote_name() -> impl Strategy<Value = RemoteName> {
    let segment = prop_oneof![
        4 => r"[^/\\\p{Cc}]{1,16}",
        1 => "[a-z]{255}",
    ];
    vec(segment, 1..=4).prop_filter_map("a '.' or '..' segment", |segments| RemoteName::parse(&segments.join("/")).ok())
}

pub(crate) fn file_meta() -> impl Strategy<Value = FileMeta> {
    (any::<u64>(), 0..=0o7777u32, any::<i64>(), 0..1_000_000_000u32)
        .prop_map(|(size, mode, mtime, mtime_nanos)| FileMeta { size, mode, mtime, mtime_nanos })
}

pub(crate) fn file_entry() -> impl Strategy<Value = FileEntry> {
    (remote_name(), file_meta(), any::<[u8; 32]>(), any::<i64>()).prop_map(|(name, meta, digest, stored)| FileEntry {
        name,
        meta,
        digest,
        stored,
    })
}

/// Every `Message` variant. Listings stay short here; one test below
/// checks a listing at its maximum length.
pub(crate) fn message() -> impl Strategy<Value = Message> {
    let t = any::<u32>;
    prop_oneof![
        (t(), any::<u16>(), text(0, MAX_ERROR_MESSAGE)).prop_map(|(transfer, code, message)| Message::Error {
            transfer,
            code,
            message
        }),
        (t(), any::<u64>()).prop_map(|(transfer, offset)| Message::Ack { transfer, offset }),
        (t(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(transfer, length, digest)| Message::Commit {
            transfer,
            length,
            digest
        }),
        (t(), remote_name(), file_meta(), any::<bool>()).prop_map(|(transfer, name, meta, resume)| Message::Upload {
            transfer,
            name,
            meta,
            resume
        }),
        (t(), any::<u64>()).prop_map(|(transfer, offset)| Message::UploadReady { transfer, offset }),
        (t(), file_entry()).prop_map(|(transfer, entry)| Message::Committed { transfer, entry }),
        (t(), remote_name(), any::<u64>()).prop_map(|(transfer, name, offset)| Message::Download {
            transfer,
            name,
            offset
        }),
        (t(), file_entry(), any::<u64>()).prop_map(|(transfer, entry, offset)| Message::DownloadStart {
            transfer,
            entry,
            offset
        }),
        (t(), text(0, MAX_NAME)).prop_map(|(transfer, prefix)| Message::List { transfer, prefix }),
        (t(), vec(file_entry(), 0..8), any::<bool>()).prop_map(|(transfer, entries, more)| Message::Listing {
            transfer,
            entries,
            more
        }),
        (t(), remote_name()).prop_map(|(transfer, name)| Message::Stat { transfer, name }),
        (t(), remote_name()).prop_map(|(transfer, name)| Message::Delete { transfer, name }),
        (t(), remote_name(), remote_name()).prop_map(|(transfer, from, to)| Message::Rename { transfer, from, to }),
        t().prop_map(|transfer| Message::Done { transfer }),
        (t(), vec(offer_entry(), 0..8), any::<bool>()).prop_map(|(transfer, entries, more)| Message::Offer {
            transfer,
            entries,
            more
        }),
        (t(), offer_answer()).prop_map(|(transfer, answer)| Message::OfferReply { transfer, answer }),
        (t(), relay()).prop_map(|(transfer, relay)| Message::Relay { transfer, relay }),
    ]
}

pub(crate) fn offer_entry() -> impl Strategy<Value = OfferEntry> {
    (remote_name(), file_meta(), any::<bool>()).prop_map(|(name, meta, is_file)| match is_file {
        true => OfferEntry { name, kind: EntryKind::File, meta },
        false => OfferEntry { name, kind: EntryKind::Directory, meta: FileMeta { size: 0, ..meta } },
    })
}

pub(crate) fn offer_answer() -> impl Strategy<Value = OfferAnswer> {
    let want = prop_oneof![any::<u64>().prop_map(|from| Want::Send { from }), Just(Want::Skip)];
    prop_oneof![
        vec(want, 0..16).prop_map(OfferAnswer::Accept),
        text(0, MAX_ERROR_MESSAGE).prop_map(OfferAnswer::Decline),
    ]
}

pub(crate) fn relay() -> impl Strategy<Value = Relay> {
    let nameplate = || (1..=MAX_NAMEPLATE).prop_map(|n| Nameplate::new(n).unwrap());
    prop_oneof![
        Just(Relay::Create),
        nameplate().prop_map(|nameplate| Relay::Join { nameplate }),
        (nameplate(), any::<u32>())
            .prop_map(|(nameplate, expires_in_secs)| Relay::Nameplate { nameplate, expires_in_secs }),
        Just(Relay::Start),
    ]
}

pub(crate) fn client_hello() -> impl Strategy<Value = ClientHello> {
    // Lists hold distinct items; order is preference, so it is shuffled too.
    let versions = vec(any::<u16>(), 1..=MAX_VERSIONS).prop_map(|mut versions| {
        let mut seen = Vec::new();
        versions.retain(|v| {
            !seen.contains(v) && {
                seen.push(*v);
                true
            }
        });
        versions
    });
    let kex_offers = subsequence(KexId::ALL.to_vec(), 1..=KexId::ALL.len()).prop_shuffle().prop_flat_map(|kexes| {
        kexes
            .into_iter()
            .map(|kex| {
                prop_oneof![bytes(MAX_KEX_SHARE), share_of_plausible_length()]
                    .prop_map(move |share| KexShare { kex, share })
            })
            .collect::<Vec<_>>()
    });
    let suites = subsequence(SuiteId::ALL.to_vec(), 1..=SuiteId::ALL.len()).prop_shuffle();
    (versions, any::<[u8; 32]>(), kex_offers, suites).prop_map(|(versions, random, kex_offers, suites)| ClientHello {
        versions,
        random,
        kex_offers,
        suites,
    })
}

pub(crate) fn server_hello() -> impl Strategy<Value = ServerHello> {
    (
        prop_oneof![Just(VERSION_1), any::<u16>()],
        any::<[u8; 32]>(),
        select(KexId::ALL.to_vec()),
        bytes(MAX_KEX_SHARE),
        select(SuiteId::ALL.to_vec()),
        bytes(MAX_IDENTITY),
        signature(),
    )
        .prop_map(|(version, random, kex, kex_share, suite, identity, signature)| ServerHello {
            version,
            random,
            kex,
            kex_share,
            suite,
            identity,
            signature,
        })
}

/// Random key shares of the lengths the key exchanges expect, so they get
/// past the length checks into X25519 and ML-KEM.
pub(crate) fn share_of_plausible_length() -> impl Strategy<Value = Vec<u8>> {
    select(vec![
        kx::X25519_LEN,
        kx::MLKEM768_ENCAPSULATION_KEY_LEN + kx::X25519_LEN,
        kx::MLKEM768_CIPHERTEXT_LEN + kx::X25519_LEN,
    ])
    .prop_flat_map(|len| prop_oneof![vec(any::<u8>(), len), Just(vec![0; len])])
}

pub(crate) fn offered_suites() -> impl Strategy<Value = Vec<SuiteId>> {
    subsequence(SuiteId::ALL.to_vec(), 1..=SuiteId::ALL.len()).prop_shuffle()
}

/// The encoding of some wire message, and whether bytes decode as its type.
#[derive(Debug, Clone)]
pub(crate) struct Wire {
    pub(crate) name: &'static str,
    pub(crate) encoding: Vec<u8>,
    pub(crate) decodes: fn(&[u8]) -> bool,
}

pub(crate) fn wire_of<T: Codec + Debug + 'static>(
    name: &'static str,
    values: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Wire> {
    values.prop_map(move |v| Wire { name, encoding: v.to_bytes(), decodes: |b| T::decode(b).is_ok() }).boxed()
}

pub(crate) fn wire_message() -> impl Strategy<Value = Wire> {
    prop_oneof![
        wire_of("ClientHello", client_hello()),
        wire_of("ServerHello", server_hello()),
        wire_of("ClientAuth", client_auth()),
        wire_of("AuthResult", auth_result()),
        wire_of("Message", message()),
        wire_of("Signature", signature()),
    ]
}

/// Where an edit lands: anywhere, or in the first 16 bytes (the headers).
#[derive(Debug, Clone)]
pub(crate) enum Position {
    Anywhere(Index),
    Header(usize),
}

/// Up to three byte positions to change and a nonzero XOR mask for each.
pub(crate) fn edits() -> impl Strategy<Value = Vec<(Position, u8)>> {
    let position = prop_oneof![any::<Index>().prop_map(Position::Anywhere), (0..16usize).prop_map(Position::Header)];
    vec((position, 1..=u8::MAX), 1..=3)
}

/// `bytes` with the edits applied (two edits may cancel: callers check).
pub(crate) fn mutate(bytes: &[u8], edits: &[(Position, u8)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.is_empty() {
        return out;
    }
    for (position, mask) in edits {
        let at = match position {
            Position::Anywhere(index) => index.index(out.len()),
            Position::Header(at) => at % out.len(),
        };
        out[at] ^= mask;
    }
    out
}

pub(crate) fn mutated(inputs: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (inputs, edits()).prop_map(|(bytes, edits)| mutate(&bytes, &edits))
}

/// Arbitrary bytes, bytes after a valid hello magic, and mutated encodings.
pub(crate) fn parser_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..4096),
        vec(any::<u8>(), 0..512).prop_map(|rest| [&b"SXFR"[..], &rest].concat()),
        mutated(wire_message().prop_map(|wire| wire.encoding)),
    ]
}

pub(crate) fn public_key_input() -> impl Strategy<Value = Vec<u8>> {
    let ed25519 = ed25519_identity(4).public().to_wire();
    let rsa = client_rsa_identity().public().to_wire();
    prop_oneof![
        vec(any::<u8>(), 0..4096),
        Just(ed25519.clone()),
        Just(rsa.clone()),
        mutated(Just(ed25519.clone())),
        mutated(Just(rsa.clone())),
        (Just(rsa), any::<Index>()).prop_map(|(rsa, cut)| rsa[..cut.index(rsa.len())].to_vec()),
        (Just(ed25519), vec(any::<u8>(), 1..8)).prop_map(|(key, extra)| [key, extra].concat()),
    ]
}

/// A frame with a correct header around arbitrary bytes or an arbitrary
/// (unsigned) hello, or arbitrary bytes with no frame structure at all.
pub(crate) fn hello_frame_input<T: Codec + Debug>(hello: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..4096),
        vec(any::<u8>(), 0..2048).prop_map(|body| frame(&body)),
        hello.prop_map(|hello| frame(&hello.to_bytes())),
    ]
}

/// Arbitrary bytes, and arbitrary record bodies with a correct header.
pub(crate) fn record_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![vec(any::<u8>(), 0..4096), vec(any::<u8>(), 0..2048).prop_map(|body| frame(&body))]
}

/// A content type and a payload to seal: arbitrary bytes, a valid
/// encoding from `valid`, or a mutated one.
pub(crate) fn sealed_input(valid: BoxedStrategy<Vec<u8>>) -> impl Strategy<Value = (ContentType, Vec<u8>)> {
    let content = prop_oneof![
        6 => Just(ContentType::Message),
        2 => Just(ContentType::Data),
        1 => Just(ContentType::KeyUpdate),
        1 => Just(ContentType::Close),
    ];
    let payload = prop_oneof![
        vec(any::<u8>(), 0..512),
        valid.clone(),
        mutated(valid),
        any::<u16>().prop_map(|code| code.to_be_bytes().to_vec()),
        Just(Vec::new()),
    ];
    (content, payload)
}
