//! The write-ahead log of the file-backed stores: one preallocated file, records appended
//! and made durable with one `fdatasync` per group of batches, reused from the start after
//! every checkpoint.
//!
//! ```text
//! 0     header slot A   magic "WAWH", version, generation, salt, start_lsn, start_off, boot, crc
//! 512   header slot B   (the valid slot with the higher generation wins; slots alternate)
//! 4096  records         magic "WAWR", salt, lsn, len, crc(salt..payload), payload
//! ```
//!
//! Recovery reads records from `start_off` while each one is whole (CRC), carries the
//! header's salt and the next LSN; the first that does not ends the log. Records of an
//! earlier epoch (before a reset) carry another salt, so bytes left in the reused space are
//! never mistaken for records, whatever user data they hold. The salt is random, fresh at
//! every reset.
//!
//! A reset (after a checkpoint made everything the records describe durable in place)
//! starts a new epoch at the beginning of the data area. Its header is synced before any
//! record of the new epoch is written, so an old epoch is either replayed whole (the reset
//! did not reach the disk: replaying whole history is idempotent) or not at all.

use std::fs::{self, File, OpenOptions};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};
use crate::fsio;

const HDR_MAGIC: &[u8; 4] = b"WAWH";
const REC_MAGIC: &[u8; 4] = b"WAWR";
const VERSION: u32 = 1;
const SLOTS: [u64; 2] = [0, 512];
const HDR_LEN: usize = 52;
const REC_HDR: usize = 32;
/// Where records begin: headers sit in their own block.
pub(crate) const DATA_START: u64 = 4096;
/// Size a new log is preallocated to (written with zeros, so syncing an append that stays
/// inside it only flushes data, not the file's size).
const INITIAL_SIZE: u64 = 1 << 20;
/// A log grown past this (a burst of large values) is shrunk back at the next reset.
const SHRINK_ABOVE: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    generation: u64,
    salt: u64,
    start_lsn: u64,
    start_off: u64,
    /// The boot the epoch's records were written in (0: unknown), to tell a process crash
    /// (page cache intact) from a power loss or OS crash.
    boot: u64,
}

impl Header {
    fn encode(&self) -> [u8; HDR_LEN] {
        let mut b = [0u8; HDR_LEN];
        b[..4].copy_from_slice(HDR_MAGIC);
        b[4..8].copy_from_slice(&VERSION.to_le_bytes());
        b[8..16].copy_from_slice(&self.generation.to_le_bytes());
        b[16..24].copy_from_slice(&self.salt.to_le_bytes());
        b[24..32].copy_from_slice(&self.start_lsn.to_le_bytes());
        b[32..40].copy_from_slice(&self.start_off.to_le_bytes());
        b[40..48].copy_from_slice(&self.boot.to_le_bytes());
        let crc = fsio::crc32(&b[..48]);
        b[48..52].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if b.len() < HDR_LEN
            || &b[..4] != HDR_MAGIC
            || u32::from_le_bytes(b[4..8].try_into().ok()?) != VERSION
            || fsio::crc32(&b[..48]) != u32::from_le_bytes(b[48..52].try_into().ok()?)
        {
            return None;
        }
        let h = Self {
            generation: u64_at(8),
            salt: u64_at(16),
            start_lsn: u64_at(24),
            start_off: u64_at(32),
            boot: u64_at(40),
        };
        (h.start_off >= DATA_START).then_some(h)
    }
}

/// This boot of the machine, as a number (0 where the OS does not say).
pub(crate) fn current_boot() -> u64 {
    static BOOT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        fs::read("/proc/sys/kernel/random/boot_id")
            .ok()
            .filter(|b| !b.is_empty())
            .map_or(0, |b| fsio::fnv64(&b).max(1))
    })
}

fn new_salt() -> u64 {
    u64::from_le_bytes(wa_crypto::random_bytes::<8>())
}

fn record_crc(salt: u64, lsn: u64, payload: &[u8]) -> u32 {
    fsio::crc32_parts(&[
        &salt.to_le_bytes(),
        &lsn.to_le_bytes(),
        &(payload.len() as u64).to_le_bytes(),
        payload,
    ])
}

/// The write-ahead log. Owned by one writer thread; nothing here locks.
pub(crate) struct Wal {
    file: File,
    path: PathBuf,
    header: Header,
    /// The slot the next header goes to (the other holds the current one).
    next_slot: usize,
    /// LSN of the next record.
    next_lsn: u64,
    /// Offset of the next record.
    tail: u64,
    /// Length of the file.
    size: u64,
}

/// A record found by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recovered {
    pub lsn: u64,
    pub payload: Vec<u8>,
}

impl Wal {
    /// Opens the log at `path` (creating it, durably, if missing) and returns it with the
    /// records to replay, oldest first. New records go after them until [`Wal::reset`].
    pub(crate) fn open(path: &Path) -> Result<(Self, Vec<Recovered>)> {
        if !path.exists() {
            create(path)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("open journal", path, e))?;
        let size = file
            .metadata()
            .map_err(|e| StoreError::io("stat journal", path, e))?
            .len();
        let mut head = vec![0u8; DATA_START as usize];
        let n = read_at_most(&mut file, 0, &mut head)
            .map_err(|e| StoreError::io("read journal", path, e))?;
        head.truncate(n);
        let mut best: Option<(usize, Header)> = None;
        for (i, &off) in SLOTS.iter().enumerate() {
            let off = off as usize;
            if let Some(h) = head.get(off..).and_then(Header::decode)
                && best.is_none_or(|(_, b)| h.generation > b.generation)
            {
                best = Some((i, h));
            }
        }
        let Some((slot, header)) = best else {
            return Err(StoreError::corrupt(
                format!("storage journal {}", path.display()),
                "no valid header (the file was damaged from outside)",
            ));
        };
        let (records, tail) =
            scan(&mut file, size, &header).map_err(|e| StoreError::io("read journal", path, e))?;
        let wal = Wal {
            file,
            path: path.to_owned(),
            next_lsn: header.start_lsn + records.len() as u64,
            header,
            next_slot: 1 - slot,
            tail,
            size,
        };
        Ok((wal, records))
    }

    /// Bytes of records since the last reset.
    pub(crate) fn used(&self) -> u64 {
        self.tail - self.header.start_off
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.used() == 0
    }

    /// Writes one record after the last (not yet durable: see [`Wal::sync`]). On an error
    /// nothing is advanced; the caller must not append again before a reset, since the
    /// failed bytes may sit past the tail.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<u64> {
        use std::os::unix::fs::FileExt as _;
        let lsn = self.next_lsn;
        let mut buf = Vec::with_capacity(REC_HDR + payload.len());
        buf.extend_from_slice(REC_MAGIC);
        buf.extend_from_slice(&self.header.salt.to_le_bytes());
        buf.extend_from_slice(&lsn.to_le_bytes());
        buf.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        buf.extend_from_slice(&record_crc(self.header.salt, lsn, payload).to_le_bytes());
        buf.extend_from_slice(payload);
        self.file
            .write_all_at(&buf, self.tail)
            .map_err(|e| StoreError::io("append to journal", &self.path, e))?;
        self.tail += buf.len() as u64;
        self.size = self.size.max(self.tail);
        self.next_lsn += 1;
        Ok(lsn)
    }

    /// Makes every appended record durable (`fdatasync`).
    pub(crate) fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| StoreError::io("fsync journal", &self.path, e))
    }

    /// Starts a new, empty epoch: every record so far is dropped. Call only once what the
    /// records describe is durable elsewhere. The new header is durable when this returns.
    pub(crate) fn reset(&mut self) -> Result<()> {
        use std::os::unix::fs::FileExt as _;
        let header = Header {
            generation: self.header.generation + 1,
            salt: new_salt(),
            start_lsn: self.next_lsn,
            start_off: DATA_START,
            boot: current_boot(),
        };
        if self.size > SHRINK_ABOVE {
            self.file
                .set_len(INITIAL_SIZE)
                .map_err(|e| StoreError::io("shrink journal", &self.path, e))?;
            self.size = INITIAL_SIZE;
        }
        self.file
            .write_all_at(&header.encode(), SLOTS[self.next_slot])
            .map_err(|e| StoreError::io("write journal header", &self.path, e))?;
        self.sync()?;
        self.header = header;
        self.next_slot = 1 - self.next_slot;
        self.tail = DATA_START;
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the records were written in this boot of the machine: then a crash can only
    /// have been the process's, and the page cache holds everything it wrote.
    pub(crate) fn same_boot(&self) -> bool {
        self.header.boot != 0 && self.header.boot == current_boot()
    }
}

/// Creates an empty log: preallocated, header written, synced, then renamed into place
/// and its directory synced, so a log that exists is always whole.
fn create(path: &Path) -> Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("new");
    let res = (|| {
        let mut o = OpenOptions::new();
        o.write(true).create(true).truncate(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o
            .open(&tmp)
            .map_err(|e| StoreError::io("create journal", &tmp, e))?;
        let mut buf = vec![0u8; INITIAL_SIZE as usize];
        let h = Header {
            generation: 1,
            salt: new_salt(),
            start_lsn: 1,
            start_off: DATA_START,
            boot: current_boot(),
        };
        buf[..HDR_LEN].copy_from_slice(&h.encode());
        f.write_all(&buf)
            .map_err(|e| StoreError::io("write journal", &tmp, e))?;
        f.sync_all()
            .map_err(|e| StoreError::io("fsync journal", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| StoreError::io("rename journal", path, e))?;
        fsio::sync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

fn read_at_most(f: &mut File, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt as _;
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], off + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The records of the current epoch, and the offset after the last.
fn scan(f: &mut File, size: u64, h: &Header) -> std::io::Result<(Vec<Recovered>, u64)> {
    use std::io::{BufReader, Seek, SeekFrom};
    let mut out = Vec::new();
    let mut pos = h.start_off;
    let mut lsn = h.start_lsn;
    f.seek(SeekFrom::Start(pos))?;
    let mut r = BufReader::with_capacity(1 << 16, &mut *f);
    loop {
        let mut hdr = [0u8; REC_HDR];
        if pos + REC_HDR as u64 > size || r.read_exact(&mut hdr).is_err() {
            break;
        }
        let u64_at = |i: usize| u64::from_le_bytes(hdr[i..i + 8].try_into().expect("8 bytes"));
        let (salt, rec_lsn, len) = (u64_at(4), u64_at(12), u64_at(20));
        let crc = u32::from_le_bytes(hdr[28..32].try_into().expect("4 bytes"));
        // The length is checked against the file before anything is allocated for it.
        if &hdr[..4] != REC_MAGIC
            || salt != h.salt
            || rec_lsn != lsn
            || len > size - pos - REC_HDR as u64
        {
            break;
        }
        let mut payload = vec![0u8; len as usize];
        if r.read_exact(&mut payload).is_err() || record_crc(salt, lsn, &payload) != crc {
            break;
        }
        out.push(Recovered { lsn, payload });
        pos += REC_HDR as u64 + len;
        lsn += 1;
    }
    Ok((out, pos))
}

/// Rewrites the log's headers as if its records came from another boot of the machine
/// (what a power loss looks like to the next open).
#[cfg(test)]
pub(crate) fn forget_boot(path: &Path) {
    let mut b = fs::read(path).unwrap();
    for off in SLOTS {
        let off = off as usize;
        if let Some(mut h) = Header::decode(&b[off..]) {
            h.boot = 12345;
            b[off..off + HDR_LEN].copy_from_slice(&h.encode());
        }
    }
    fs::write(path, b).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(r: &[Recovered]) -> Vec<Vec<u8>> {
        r.iter().map(|r| r.payload.clone()).collect()
    }

    #[test]
    fn a_new_log_is_empty_and_records_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wal");
        let (mut w, rec) = Wal::open(&p).unwrap();
        assert!(rec.is_empty() && w.is_empty());
        assert_eq!(fs::metadata(&p).unwrap().len(), INITIAL_SIZE);
        for i in 0..5u8 {
            w.append(&vec![i; 100 * i as usize]).unwrap();
        }
        w.sync().unwrap();
        drop(w);
        let (w, rec) = Wal::open(&p).unwrap();
        assert_eq!(
            payloads(&rec),
            (0..5u8)
                .map(|i| vec![i; 100 * i as usize])
                .collect::<Vec<_>>()
        );
        assert_eq!(
            rec.iter().map(|r| r.lsn).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert!(!w.is_empty());
    }

    #[test]
    fn a_torn_last_record_is_dropped_whole_at_every_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wal");
        let (mut w, _) = Wal::open(&p).unwrap();
        w.append(b"first batch").unwrap();
        let end_first = w.tail;
        w.append(&[7u8; 300]).unwrap();
        let end_second = w.tail;
        drop(w);
        let full = fs::read(&p).unwrap();
        for cut in end_first..end_second {
            // The record is cut short: what follows is zeros (never written) ...
            let mut b = full.clone();
            b[cut as usize..end_second as usize].fill(0);
            fs::write(&p, &b).unwrap();
            let (_, rec) = Wal::open(&p).unwrap();
            assert_eq!(
                payloads(&rec),
                vec![b"first batch".to_vec()],
                "cut at {cut}"
            );
            // ... or the file ends there.
            fs::write(&p, &full[..cut as usize]).unwrap();
            let (_, rec) = Wal::open(&p).unwrap();
            assert_eq!(
                payloads(&rec),
                vec![b"first batch".to_vec()],
                "file cut at {cut}"
            );
        }
        // A flipped bit in the payload fails the CRC.
        let mut b = full.clone();
        b[end_second as usize - 5] ^= 1;
        fs::write(&p, &b).unwrap();
        assert_eq!(Wal::open(&p).unwrap().1.len(), 1);
    }

    #[test]
    fn after_a_reset_old_records_in_the_reused_space_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wal");
        let (mut w, _) = Wal::open(&p).unwrap();
        for i in 0..6u8 {
            w.append(&[i; 50]).unwrap();
        }
        w.sync().unwrap();
        w.reset().unwrap();
        assert!(w.is_empty());
        // Exactly as long as the old first record, so the next old one follows it.
        w.append(&[42; 50]).unwrap();
        w.sync().unwrap();
        drop(w);
        let (mut w, rec) = Wal::open(&p).unwrap();
        assert_eq!(payloads(&rec), vec![vec![42; 50]]);
        assert_eq!(rec[0].lsn, 7, "LSNs go on across resets");
        // Reset with nothing new, then reopen: nothing at all.
        w.reset().unwrap();
        drop(w);
        assert!(Wal::open(&p).unwrap().1.is_empty());
    }

    #[test]
    fn a_torn_header_falls_back_to_the_other_slot() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wal");
        let (mut w, _) = Wal::open(&p).unwrap();
        w.append(b"old epoch").unwrap();
        w.sync().unwrap();
        let slot = w.next_slot;
        w.reset().unwrap();
        drop(w);
        // The reset's header never made it: the old epoch is replayed whole.
        let mut b = fs::read(&p).unwrap();
        b[SLOTS[slot] as usize + 20] ^= 0xFF;
        fs::write(&p, &b).unwrap();
        let (_, rec) = Wal::open(&p).unwrap();
        assert_eq!(payloads(&rec), vec![b"old epoch".to_vec()]);
        // Both slots damaged: refused, never silently emptied.
        b[SLOTS[1 - slot] as usize + 20] ^= 0xFF;
        fs::write(&p, &b).unwrap();
        assert_eq!(Wal::open(&p).err().unwrap().code(), "ERR_WA_STORE_CORRUPT");
    }

    #[test]
    fn a_log_grown_by_a_large_record_shrinks_at_reset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wal");
        let (mut w, _) = Wal::open(&p).unwrap();
        w.append(&vec![1u8; (SHRINK_ABOVE + 10) as usize]).unwrap();
        w.sync().unwrap();
        assert!(fs::metadata(&p).unwrap().len() > SHRINK_ABOVE);
        w.reset().unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), INITIAL_SIZE);
        w.append(b"after").unwrap();
        drop(w);
        assert_eq!(payloads(&Wal::open(&p).unwrap().1), vec![b"after".to_vec()]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_log_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..6000),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            len in proptest::num::u64::ANY,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("wal");
            fs::write(&p, &bytes).unwrap();
            let _ = Wal::open(&p);
            // A valid header, then a record header of our salt and LSN with any length,
            // then anything.
            let h = Header { generation: 1, salt: 7, start_lsn: 1, start_off: DATA_START, boot: 0 };
            let mut b = vec![0u8; DATA_START as usize];
            b[..HDR_LEN].copy_from_slice(&h.encode());
            b.extend_from_slice(REC_MAGIC);
            b.extend_from_slice(&7u64.to_le_bytes());
            b.extend_from_slice(&1u64.to_le_bytes());
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&tail);
            fs::write(&p, &b).unwrap();
            let (_, rec) = Wal::open(&p).unwrap();
            proptest::prop_assert!(rec.len() <= 1);
        }
    }
}
