//! The `ClientPayload` sent in the Noise ClientFinish: registration (a new companion, with
//! its Signal identity) or login (a paired one). Field values follow Baileys'
//! `Utils/validate-connection.js`.

use prost::Message as _;
use wa_proto::ClientPayload;
use wa_proto::client_payload::{
    DevicePairingRegistrationData, UserAgent, WebInfo, user_agent::AppVersion,
};
use wa_store::AuthenticationCreds;

use crate::config::Config;
use crate::error::ClientError;

/// `DeviceProps` (WAProto field numbers), sent inside the registration payload. Defined here
/// because only the companion ever writes it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceProps {
    #[prost(string, optional, tag = "1")]
    pub os: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub version: Option<DevicePropsVersion>,
    #[prost(int32, optional, tag = "3")]
    pub platform_type: Option<i32>,
    #[prost(bool, optional, tag = "4")]
    pub require_full_sync: Option<bool>,
    #[prost(message, optional, tag = "5")]
    pub history_sync_config: Option<HistorySyncConfig>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DevicePropsVersion {
    #[prost(uint32, optional, tag = "1")]
    pub primary: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub secondary: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub tertiary: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HistorySyncConfig {
    #[prost(uint32, optional, tag = "3")]
    pub storage_quota_mb: Option<u32>,
    #[prost(bool, optional, tag = "4")]
    pub inline_initial_payload_in_e2ee_msg: Option<bool>,
    #[prost(bool, optional, tag = "6")]
    pub support_call_log_history: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub support_bot_user_agent_chat_history: Option<bool>,
    #[prost(bool, optional, tag = "8")]
    pub support_cag_reactions_and_polls: Option<bool>,
    #[prost(bool, optional, tag = "9")]
    pub support_biz_hosted_msg: Option<bool>,
    #[prost(bool, optional, tag = "10")]
    pub support_recent_sync_chunk_message_count_tuning: Option<bool>,
    #[prost(bool, optional, tag = "11")]
    pub support_hosted_group_msg: Option<bool>,
    #[prost(bool, optional, tag = "12")]
    pub support_fbid_bot_chat_history: Option<bool>,
    #[prost(bool, optional, tag = "14")]
    pub support_message_association: Option<bool>,
    #[prost(bool, optional, tag = "15")]
    pub support_group_history: Option<bool>,
}

/// `DeviceProps.PlatformType` for a browser name (Baileys' `getPlatformType`).
fn platform_type(name: &str) -> i32 {
    match name.to_uppercase().as_str() {
        "ANDROID" => 16,
        "CHROME" => 1,
        "FIREFOX" => 2,
        "IE" => 3,
        "OPERA" => 4,
        "SAFARI" => 5,
        "EDGE" => 6,
        "DESKTOP" => 7,
        "IPAD" => 8,
        _ => 1,
    }
}

fn base(config: &Config) -> ClientPayload {
    let android = config.browser.is_android();
    ClientPayload {
        connect_type: Some(1),   // WIFI_UNKNOWN
        connect_reason: Some(1), // USER_ACTIVATED
        user_agent: Some(UserAgent {
            app_version: Some(AppVersion {
                primary: Some(config.version[0]),
                secondary: Some(config.version[1]),
                tertiary: Some(config.version[2]),
                ..Default::default()
            }),
            platform: Some(if android { 0 } else { 14 }), // ANDROID / WEB
            release_channel: Some(0),
            os_version: Some("0.1".into()),
            device: Some("Desktop".into()),
            os_build_number: Some("0.1".into()),
            locale_language_iso6391: Some("en".into()),
            mnc: Some("000".into()),
            mcc: Some("000".into()),
            locale_country_iso31661_alpha2: Some(config.country_code.clone()),
            ..Default::default()
        }),
        web_info: (!android).then(|| WebInfo {
            web_sub_platform: Some(
                match (
                    config.sync_full_history,
                    config.browser.os.as_str(),
                    config.browser.name.as_str(),
                ) {
                    (true, "Mac OS", "Desktop") => 3,  // DARWIN
                    (true, "Windows", "Desktop") => 4, // WIN32
                    _ => 0,                            // WEB_BROWSER
                },
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn be(value: u32, len: usize) -> Vec<u8> {
    value.to_be_bytes()[4 - len..].to_vec()
}

/// The registration payload of a device that is not paired yet.
pub fn registration(creds: &AuthenticationCreds, config: &Config) -> Vec<u8> {
    let version = format!(
        "{}.{}.{}",
        config.version[0], config.version[1], config.version[2]
    );
    let props = DeviceProps {
        os: Some(config.browser.os.clone()),
        version: Some(DevicePropsVersion {
            primary: Some(10),
            secondary: Some(15),
            tertiary: Some(7),
        }),
        platform_type: Some(platform_type(&config.browser.name)),
        require_full_sync: Some(config.sync_full_history),
        history_sync_config: Some(HistorySyncConfig {
            storage_quota_mb: Some(10240),
            inline_initial_payload_in_e2ee_msg: Some(true),
            support_call_log_history: Some(false),
            support_bot_user_agent_chat_history: Some(true),
            support_cag_reactions_and_polls: Some(true),
            support_biz_hosted_msg: Some(true),
            support_recent_sync_chunk_message_count_tuning: Some(true),
            support_hosted_group_msg: Some(true),
            support_fbid_bot_chat_history: Some(true),
            support_message_association: Some(true),
            support_group_history: Some(false),
        }),
    };
    let spk = &creds.signed_pre_key;
    let mut payload = base(config);
    payload.passive = Some(false);
    payload.pull = Some(false);
    payload.device_pairing_data = Some(DevicePairingRegistrationData {
        build_hash: Some(wa_crypto::hash::md5(version.as_bytes()).to_vec()),
        device_props: Some(props.encode_to_vec()),
        e_regid: Some(be(creds.registration_id, 4)),
        e_keytype: Some(vec![5]),
        e_ident: Some(creds.signed_identity_key.public.clone()),
        e_skey_id: Some(be(spk.key_id, 3)),
        e_skey_val: Some(spk.key_pair.public.clone()),
        e_skey_sig: Some(spk.signature.clone()),
    });
    payload.encode_to_vec()
}

/// The login payload of a paired device (`creds.me.id` = `user:device@s.whatsapp.net`).
pub fn login(me_id: &str, config: &Config) -> Result<Vec<u8>, ClientError> {
    let jid = wa_binary::Jid::parse(me_id)
        .map_err(|e| ClientError::Creds(format!("creds.me.id {me_id:?}: {e}")))?;
    let username: u64 = jid
        .user
        .parse()
        .map_err(|_| ClientError::Creds(format!("creds.me.id {me_id:?} is not a phone number")))?;
    let mut payload = base(config);
    payload.passive = Some(true);
    payload.pull = Some(true);
    payload.username = Some(username);
    payload.device = Some(u32::from(jid.device));
    payload.lid_db_migrated = Some(false);
    Ok(payload.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_carries_the_signal_identity_big_endian() {
        let mut creds = AuthenticationCreds::generate();
        creds.registration_id = 0x0102;
        creds.signed_pre_key.key_id = 7;
        let bytes = registration(&creds, &Config::default());
        let p = ClientPayload::decode(bytes.as_slice()).unwrap();
        assert_eq!(p.passive, Some(false));
        assert_eq!(p.pull, Some(false));
        let d = p.device_pairing_data.unwrap();
        assert_eq!(d.e_regid.unwrap(), vec![0, 0, 1, 2]);
        assert_eq!(d.e_skey_id.unwrap(), vec![0, 0, 7]);
        assert_eq!(d.e_keytype.unwrap(), vec![5]);
        assert_eq!(d.e_ident.unwrap(), creds.signed_identity_key.public);
        // md5("2.3000.1043857760")
        assert_eq!(
            d.build_hash.unwrap(),
            wa_crypto::hash::md5(b"2.3000.1043857760").to_vec()
        );
        let props = DeviceProps::decode(d.device_props.unwrap().as_slice()).unwrap();
        assert_eq!(props.os.as_deref(), Some("Mac OS"));
        assert_eq!(props.platform_type, Some(1));
    }

    #[test]
    fn login_names_user_and_device() {
        let bytes = login("15551234567:12@s.whatsapp.net", &Config::default()).unwrap();
        let p = ClientPayload::decode(bytes.as_slice()).unwrap();
        assert_eq!(p.username, Some(15_551_234_567));
        assert_eq!(p.device, Some(12));
        assert_eq!(p.passive, Some(true));
        assert_eq!(p.pull, Some(true));
        assert!(p.device_pairing_data.is_none());
        assert!(login("not-a-number@s.whatsapp.net", &Config::default()).is_err());
    }
}
