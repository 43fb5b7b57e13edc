//! The test server's stanza handlers: nodes built from the input (tags, attributes and values
//! the handlers look for, plus arbitrary bytes) arrive from a logged-in companion, interleaved
//! with time passing, phones sending and faults. Nothing may panic; raw frames exercise the
//! decoder path too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_binary::{Node, encode_frame};
use wa_testserver::{ConnId, FaultTarget, Server, ServerConfig};

const TAGS: &[&str] = &[
    "iq", "message", "receipt", "ack", "presence", "chatstate", "ib", "notification", "participants",
    "to", "enc", "list", "item", "user", "key", "skey", "id", "value", "signature", "registration",
    "type", "identity", "usync", "query", "devices", "lid", "contact", "count", "digest", "rotate",
    "active", "passive", "ping", "media_conn", "remove-companion-device", "retry", "keys",
    "device-identity", "link_code_companion_reg", "pair-device-sign", "x",
];
const KEYS: &[&str] = &[
    "id", "to", "type", "xmlns", "class", "jid", "from", "recipient", "participant", "count", "v",
    "t", "stage", "key-index", "name",
];
const VALUES: &[&str] = &[
    "get", "set", "result", "error", "encrypt", "usync", "md", "w:p", "w:m", "passive", "abt",
    "privacy", "message", "receipt", "retry", "sender", "read", "inactive", "pkmsg", "msg", "skmsg",
    "15550001@s.whatsapp.net", "15550001:1@s.whatsapp.net", "15550002@s.whatsapp.net",
    "15550002:1@s.whatsapp.net", "100000000000001@lid", "x@g.us", "status@broadcast", "",
    "a:b:c@d", "1", "0", "99999999999999999999", "4294967295",
];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[self.byte() as usize % from.len()]
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = (self.byte() as usize % 40).min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b.to_vec()
    }
    fn node(&mut self, depth: u8) -> Node {
        let mut n = Node::new(self.pick(TAGS));
        for _ in 0..self.byte() % 5 {
            n = n.attr(self.pick(KEYS), self.pick(VALUES));
        }
        match self.byte() % 4 {
            0 => n,
            1 => n.bytes(self.bytes()),
            2 if depth < 4 => {
                let kids = (0..self.byte() % 4).map(|_| self.node(depth + 1)).collect();
                n.children(kids)
            }
            _ => n.text(self.pick(VALUES)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut server = Server::new(ServerConfig {
        phone_pre_keys: 2,
        ..ServerConfig::seeded("fuzz")
    });
    let mut now = 1_700_000_000_000u64;
    let (a, b) = (ConnId(1), ConnId(2));
    server.fuzz_logged_in(a, "15550001", now);
    server.fuzz_logged_in(b, "15550002", now);
    for _ in 0..16 {
        if input.0.is_empty() {
            break;
        }
        let conn = if input.byte() % 2 == 0 { a } else { b };
        match input.byte() % 8 {
            0 => {
                let raw = input.bytes();
                server.fuzz_frame(conn, &raw, now);
            }
            1 => {
                now += u64::from(input.byte()) * 1000;
                server.handle_timeout(now);
            }
            2 => {
                let to = input.pick(VALUES);
                let _ = server.phone_send_text(now, "15550002", to, "hi");
            }
            3 => {
                let _ = server.drop_frames(&FaultTarget::All, 1);
                let _ = server.stall(now, &FaultTarget::All, 100);
            }
            _ => {
                let node = input.node(0);
                if let Ok(frame) = encode_frame(&node) {
                    server.fuzz_frame(conn, &frame, now);
                }
            }
        }
        while server.poll_output().is_some() {}
        while server.poll_event().is_some() {}
    }
});
