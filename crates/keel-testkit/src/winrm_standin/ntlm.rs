//! The server side of NTLM (MS-NLMP) for the WinRM stand-in: a CHALLENGE message for a
//! client's NEGOTIATE, and the NTLMv2 response of its AUTHENTICATE message checked against
//! the configured password (NTOWFv2, then HMAC-MD5 over the server challenge and the blob).

use md4::Md4;
use md5::{Digest, Md5};

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// NEGOTIATE_UNICODE | REQUEST_TARGET | SIGN | SEAL | NTLM | ALWAYS_SIGN | TARGET_TYPE_DOMAIN
/// | EXTENDED_SESSIONSECURITY | TARGET_INFO | VERSION | 128 | KEY_EXCH | 56.
const CHALLENGE_FLAGS: u32 = 0x0000_0001
    | 0x0000_0004
    | 0x0000_0010
    | 0x0000_0020
    | 0x0000_0200
    | 0x0000_8000
    | 0x0001_0000
    | 0x0008_0000
    | 0x0080_0000
    | 0x0200_0000
    | 0x2000_0000
    | 0x4000_0000
    | 0x8000_0000;

/// The message type of an NTLM message, after checking its signature.
pub(crate) fn message_type(msg: &[u8]) -> Option<u32> {
    if msg.len() < 12 || &msg[..8] != SIGNATURE {
        return None;
    }
    Some(u32::from_le_bytes([msg[8], msg[9], msg[10], msg[11]]))
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A CHALLENGE message (type 2) carrying `challenge`, target `KEEL`, computer `STANDIN`.
pub(crate) fn challenge_message(challenge: [u8; 8]) -> Vec<u8> {
    let target = utf16le("KEEL");
    let mut info = Vec::new();
    let mut av = |id: u16, value: &[u8]| {
        info.extend_from_slice(&id.to_le_bytes());
        info.extend_from_slice(&(value.len() as u16).to_le_bytes());
        info.extend_from_slice(value);
    };
    av(2, &utf16le("KEEL"));
    av(1, &utf16le("STANDIN"));
    av(4, &utf16le("keel.test"));
    av(3, &utf16le("standin.keel.test"));
    let filetime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() + 11_644_473_600) * 10_000_000)
        .unwrap_or_default();
    av(7, &filetime.to_le_bytes());
    av(0, &[]);

    let payload_at = 56u32;
    let mut msg = Vec::with_capacity(56 + target.len() + info.len());
    msg.extend_from_slice(SIGNATURE);
    msg.extend_from_slice(&2u32.to_le_bytes());
    push_fields(&mut msg, target.len(), payload_at);
    msg.extend_from_slice(&CHALLENGE_FLAGS.to_le_bytes());
    msg.extend_from_slice(&challenge);
    msg.extend_from_slice(&[0; 8]);
    push_fields(&mut msg, info.len(), payload_at + target.len() as u32);
    // Version: 10.0 build 17763, NTLM revision 15.
    msg.extend_from_slice(&[10, 0, 0x63, 0x45, 0, 0, 0, 15]);
    msg.extend_from_slice(&target);
    msg.extend_from_slice(&info);
    msg
}

fn push_fields(msg: &mut Vec<u8>, len: usize, offset: u32) {
    msg.extend_from_slice(&(len as u16).to_le_bytes());
    msg.extend_from_slice(&(len as u16).to_le_bytes());
    msg.extend_from_slice(&offset.to_le_bytes());
}

/// The fields of an AUTHENTICATE message (type 3) the stand-in checks.
#[derive(Debug)]
pub(crate) struct Authenticate {
    pub user: String,
    pub domain: String,
    nt_response: Vec<u8>,
}

fn field(msg: &[u8], at: usize) -> Result<Vec<u8>, String> {
    let header = msg.get(at..at + 8).ok_or("the message is too short for its fields")?;
    let len = u16::from_le_bytes([header[0], header[1]]) as usize;
    let offset = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    msg.get(offset..offset + len)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format!("a field at byte {at} points outside the message"))
}

fn utf16_string(bytes: &[u8]) -> Result<String, String> {
    if !bytes.len().is_multiple_of(2) {
        return Err("a UTF-16 string has an odd length".into());
    }
    let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16(&units).map_err(|_| "a string is not UTF-16".into())
}

/// Reads an AUTHENTICATE message; an error says what is malformed.
pub(crate) fn parse_authenticate(msg: &[u8]) -> Result<Authenticate, String> {
    if message_type(msg) != Some(3) {
        return Err("not an NTLM AUTHENTICATE message".into());
    }
    let flags = msg
        .get(60..64)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or("the AUTHENTICATE message has no flags")?;
    if flags & 1 == 0 {
        return Err("the client did not negotiate Unicode strings".into());
    }
    let nt_response = field(msg, 20)?;
    if nt_response.len() <= 24 {
        return Err("the NT response is not NTLMv2 (NTLMv1 is refused)".into());
    }
    Ok(Authenticate {
        domain: utf16_string(&field(msg, 28)?)?,
        user: utf16_string(&field(msg, 36)?)?,
        nt_response,
    })
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..16].copy_from_slice(&Md5::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Md5::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let inner = inner.finalize();
    let mut outer = Md5::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    let mut out = [0u8; 16];
    out.copy_from_slice(&outer.finalize());
    out
}

impl Authenticate {
    /// Whether the NTLMv2 response proves knowledge of `password` for `challenge`.
    pub(crate) fn verifies(&self, password: &str, challenge: &[u8; 8]) -> bool {
        let nt_hash = Md4::digest(utf16le(password));
        let identity = utf16le(&format!("{}{}", self.user.to_uppercase(), self.domain));
        let ntowf_v2 = hmac_md5(&nt_hash, &[&identity]);
        let (proof, blob) = self.nt_response.split_at(16);
        hmac_md5(&ntowf_v2, &[challenge, blob]) == proof
    }

    /// The channel binding hash (`MsvAvChannelBindings`) in the NTLMv2 blob, if any.
    pub(crate) fn channel_bindings(&self) -> Option<[u8; 16]> {
        // NTProofStr (16), then the blob: versions (2), reserved (6), timestamp (8),
        // client challenge (8), reserved (4), then the AV pairs.
        let mut pairs = self.nt_response.get(16 + 28..)?;
        while pairs.len() >= 4 {
            let id = u16::from_le_bytes([pairs[0], pairs[1]]);
            let len = u16::from_le_bytes([pairs[2], pairs[3]]) as usize;
            let value = pairs.get(4..4 + len)?;
            match id {
                0 => return None,
                0x000A if len == 16 => {
                    let mut out = [0u8; 16];
                    out.copy_from_slice(value);
                    return Some(out);
                }
                _ => pairs = &pairs[4 + len..],
            }
        }
        None
    }
}
