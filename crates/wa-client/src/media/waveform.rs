//! The waveform WhatsApp draws under a voice note (`audioMessage.waveform`): 64 bars, each the
//! mean loudness of one 64th of the audio, scaled so the loudest bar is 100. Decoded here from
//! Ogg Opus (what voice notes are) with a pure-Rust Opus decoder, or from PCM WAV; other
//! formats have none (Baileys likewise gives none when its optional decoder cannot read one).

use opus_rs::OpusDecoder;

use super::MediaError;

/// Bars in a waveform.
pub const BARS: usize = 64;
/// Voice is decoded at 16 kHz mono: plenty for a loudness outline, a third of the work of 48 kHz.
const RATE: i32 = 16_000;
/// The longest Opus packet: 120 ms.
const MAX_FRAME: usize = RATE as usize * 120 / 1000;
/// Decoded samples kept at most (about 40 minutes at 16 kHz).
const MAX_SAMPLES: usize = 40 * 60 * RATE as usize;

/// The waveform of an Ogg Opus or PCM WAV file, `None` for another format.
pub fn audio_waveform(bytes: &[u8]) -> Result<Option<[u8; BARS]>, MediaError> {
    let samples = if bytes.starts_with(b"OggS") {
        match opus_samples(bytes)? {
            Some(s) => s,
            None => return Ok(None),
        }
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
        wav_samples(bytes)?
    } else {
        return Ok(None);
    };
    Ok(Some(bars(&samples)))
}

/// Baileys' shape: mean |sample| per block, divided by the largest mean, times 100, floored;
/// silence (or fewer samples than bars) is all zeros.
pub fn bars(samples: &[f32]) -> [u8; BARS] {
    let mut out = [0u8; BARS];
    let block = samples.len() / BARS;
    if block == 0 {
        return out;
    }
    let means: Vec<f64> = samples
        .chunks_exact(block)
        .take(BARS)
        .map(|c| c.iter().map(|s| f64::from(s.abs())).sum::<f64>() / block as f64)
        .collect();
    let max = means.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 || !max.is_finite() {
        return out;
    }
    for (o, m) in out.iter_mut().zip(&means) {
        *o = (100.0 * m / max).floor().clamp(0.0, 100.0) as u8;
    }
    out
}

/// The packets of the first logical stream of an Ogg file, in order.
fn ogg_packets(bytes: &[u8]) -> Result<Vec<Vec<u8>>, MediaError> {
    let bad = |what: &str| MediaError::Decode(format!("ogg: {what}"));
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut serial = None;
    let mut at = 0usize;
    while at < bytes.len() {
        let head = bytes
            .get(at..at + 27)
            .ok_or_else(|| bad("a page cut short"))?;
        if &head[..4] != b"OggS" {
            return Err(bad("no page where one should start"));
        }
        let page_serial = u32::from_le_bytes([head[14], head[15], head[16], head[17]]);
        let count = usize::from(head[26]);
        let table = bytes
            .get(at + 27..at + 27 + count)
            .ok_or_else(|| bad("a segment table cut short"))?;
        let body_len: usize = table.iter().map(|&l| usize::from(l)).sum();
        let body_at = at + 27 + count;
        let body = bytes
            .get(body_at..body_at + body_len)
            .ok_or_else(|| bad("a page body cut short"))?;
        at = body_at + body_len;
        if *serial.get_or_insert(page_serial) != page_serial {
            continue;
        }
        let mut off = 0;
        for &lace in table {
            let lace = usize::from(lace);
            current.extend_from_slice(&body[off..off + lace]);
            off += lace;
            if lace < 255 {
                packets.push(std::mem::take(&mut current));
            }
        }
    }
    Ok(packets)
}

fn opus_samples(bytes: &[u8]) -> Result<Option<Vec<f32>>, MediaError> {
    let packets = ogg_packets(bytes)?;
    let Some(head) = packets.first() else {
        return Ok(None);
    };
    if !head.starts_with(b"OpusHead") {
        // Ogg Vorbis or FLAC: not a voice note.
        return Ok(None);
    }
    let pre_skip = head
        .get(10..12)
        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])) / 3)
        .unwrap_or(0);
    let mut decoder =
        OpusDecoder::new(RATE, 1).map_err(|e| MediaError::Decode(format!("opus: {e}")))?;
    let mut frame = vec![0f32; MAX_FRAME];
    let mut samples = Vec::new();
    // Packet 0 is OpusHead, packet 1 OpusTags; the audio follows.
    for packet in packets.iter().skip(2) {
        let n = decoder
            .decode(packet, MAX_FRAME, &mut frame)
            .map_err(|e| MediaError::Decode(format!("opus: {e}")))?;
        samples.extend_from_slice(&frame[..n.min(MAX_FRAME)]);
        if samples.len() > MAX_SAMPLES {
            break;
        }
    }
    Ok(Some(samples.split_off(pre_skip.min(samples.len()))))
}

/// Channel 0 of a PCM WAV file (8, 16, 24 or 32-bit integers, or 32-bit floats) as -1..1.
fn wav_samples(bytes: &[u8]) -> Result<Vec<f32>, MediaError> {
    let bad = |what: &str| MediaError::Decode(format!("wav: {what}"));
    let mut at = 12;
    let mut format = None;
    while let Some(head) = bytes.get(at..at + 8) {
        let id = &head[..4];
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let body = bytes
            .get(at + 8..)
            .ok_or_else(|| bad("a chunk cut short"))?;
        let body = &body[..len.min(body.len())];
        if id == b"fmt " {
            if body.len() < 16 {
                return Err(bad("a short fmt chunk"));
            }
            let mut tag = u16::from_le_bytes([body[0], body[1]]);
            // WAVE_FORMAT_EXTENSIBLE names the real format in its sub-format GUID.
            if tag == 0xFFFE && body.len() >= 26 {
                tag = u16::from_le_bytes([body[24], body[25]]);
            }
            let channels = usize::from(u16::from_le_bytes([body[2], body[3]])).max(1);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            format = Some((tag, channels, bits));
        } else if id == b"data" {
            let (tag, channels, bits) = format.ok_or_else(|| bad("data before fmt"))?;
            let width = usize::from(bits / 8);
            // 1: PCM, 3: IEEE float.
            if !matches!(tag, 1 | 3) || width == 0 || width > 4 {
                return Err(bad("not 8-32 bit PCM"));
            }
            let float = tag == 3;
            let step = width * channels;
            let read = |c: &[u8]| -> f32 {
                match (width, float) {
                    (1, _) => (f32::from(c[0]) - 128.0) / 128.0,
                    (2, _) => f32::from(i16::from_le_bytes([c[0], c[1]])) / 32_768.0,
                    (3, _) => (i32::from_le_bytes([0, c[0], c[1], c[2]]) >> 8) as f32 / 8_388_608.0,
                    (4, true) => f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                    (4, false) => {
                        i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32 / 2_147_483_648.0
                    }
                    _ => 0.0,
                }
            };
            return Ok(body
                .chunks_exact(step)
                .take(MAX_SAMPLES)
                .map(read)
                .collect());
        }
        at += 8 + len + (len & 1);
    }
    Err(bad("no data chunk"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opus_rs::{Application, OpusEncoder};

    fn page(serial: u32, seq: u32, flags: u8, granule: u64, packets: &[&[u8]]) -> Vec<u8> {
        let mut table = Vec::new();
        let mut body = Vec::new();
        for p in packets {
            let mut left = p.len();
            loop {
                let lace = left.min(255);
                table.push(lace as u8);
                left -= lace;
                if lace < 255 {
                    break;
                }
            }
            body.extend_from_slice(p);
        }
        let mut out = b"OggS\0".to_vec();
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&serial.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(table.len() as u8);
        out.extend_from_slice(&table);
        out.extend_from_slice(&body);
        out
    }

    /// One second of a 440 Hz tone whose loudness rises from silence to full, as Ogg Opus.
    fn rising_tone() -> Vec<u8> {
        let mut enc = OpusEncoder::new(RATE, 1, Application::Voip).unwrap();
        let frame = 320; // 20 ms
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 1]);
        head.extend_from_slice(&0u16.to_le_bytes());
        head.extend_from_slice(&16_000u32.to_le_bytes());
        head.extend_from_slice(&[0, 0, 0]);
        let mut file = page(7, 0, 2, 0, &[&head]);
        file.extend(page(7, 1, 0, 0, &[b"OpusTags\0\0\0\0\0\0\0\0"]));
        let total = RATE as usize;
        for (i, start) in (0..total).step_by(frame).enumerate() {
            let pcm: Vec<f32> = (start..start + frame)
                .map(|n| {
                    let t = n as f32 / RATE as f32;
                    0.8 * t * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                })
                .collect();
            let mut out = vec![0u8; 1500];
            let len = enc.encode(&pcm, frame, &mut out).unwrap();
            file.extend(page(7, 2 + i as u32, 0, (start * 3) as u64, &[&out[..len]]));
        }
        file
    }

    #[test]
    fn an_opus_voice_note_rises_as_its_loudness_does() {
        let w = audio_waveform(&rising_tone())
            .unwrap()
            .expect("an Opus file");
        assert_eq!(w.len(), BARS);
        assert!(w[..4].iter().all(|&b| b < 15), "quiet start: {w:?}");
        assert!(w[56..].iter().all(|&b| b > 80), "loud end: {w:?}");
        assert_eq!(*w.iter().max().unwrap(), 100);
        let quarter = |q: usize| {
            w[q * 16..q * 16 + 16]
                .iter()
                .map(|&b| u32::from(b))
                .sum::<u32>()
        };
        assert!(
            quarter(0) < quarter(1) && quarter(1) < quarter(2) && quarter(2) < quarter(3),
            "{w:?}"
        );
    }

    #[test]
    fn wav_pcm_gives_the_exact_bars() {
        // 64 blocks of 10 samples; block i has amplitude i/63 (16-bit), sign alternating.
        let mut data = Vec::new();
        let mut expected_means = Vec::new();
        for i in 0..BARS {
            let v = (i as f32 / 63.0 * 32_767.0) as i16;
            expected_means.push(f64::from(v) / 32_768.0);
            for k in 0..10 {
                let s = if k % 2 == 0 { v } else { -v };
                data.extend_from_slice(&s.to_le_bytes());
            }
        }
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
        wav.extend_from_slice(&1u16.to_le_bytes()); // mono
        wav.extend_from_slice(&8000u32.to_le_bytes());
        wav.extend_from_slice(&16000u32.to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
        wav.extend_from_slice(&data);
        let w = audio_waveform(&wav).unwrap().unwrap();
        let max = expected_means.iter().copied().fold(0.0, f64::max);
        let want: Vec<u8> = expected_means
            .iter()
            .map(|m| (100.0 * m / max).floor() as u8)
            .collect();
        assert_eq!(w.to_vec(), want);
        assert_eq!((w[0], w[63]), (0, 100));
    }

    #[test]
    fn other_formats_have_none_and_broken_files_are_errors() {
        assert_eq!(audio_waveform(b"ID3\x04 an mp3").unwrap(), None);
        let vorbis = page(1, 0, 2, 0, &[b"\x01vorbis rest of the header"]);
        assert_eq!(audio_waveform(&vorbis).unwrap(), None);
        let mut cut = rising_tone();
        cut.truncate(cut.len() - 7);
        assert!(matches!(audio_waveform(&cut), Err(MediaError::Decode(_))));
        assert!(matches!(
            audio_waveform(b"RIFF\0\0\0\0WAVEdata\x04\0\0\0abcd"),
            Err(MediaError::Decode(_))
        ));
        assert_eq!(bars(&[0.0; 1000]), [0; BARS], "silence");
        assert_eq!(bars(&[0.5; 10]), [0; BARS], "fewer samples than bars");
    }
}
