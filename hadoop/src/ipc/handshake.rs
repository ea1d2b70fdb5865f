//! Connection setup on the raw socket, before any call: preamble, optional SASL
//! exchange, then the connection context.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tracing::debug;

use super::frame::{
    self, encode_packet, read_packet, request_header, response_call_id, split_response,
    AUTH_FAILED_CALL_ID, SASL_CALL_ID,
};
use crate::proto::common::{
    rpc_response_header_proto::RpcStatusProto,
    rpc_sasl_proto::{SaslAuth, SaslState},
    IpcConnectionContextProto, RpcSaslProto, UserInformationProto,
};
use crate::sasl::{SaslMechanism, ServerAuth};
use crate::{Error, RemoteException, Result};

/// Runs the SASL exchange with `mech` (the auth byte already announced SASL).
/// Returns `false` when the server answered NEGOTIATE with SUCCESS, meaning "use
/// SIMPLE" (security off and no token required).
pub async fn sasl<S>(stream: &mut S, addr: &str, mech: &mut dyn SaslMechanism) -> Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let negotiate = RpcSaslProto {
        state: SaslState::Negotiate as i32,
        ..Default::default()
    };
    send_sasl(stream, addr, &negotiate).await?;
    let mut started = false;
    loop {
        let msg = read_sasl(stream, addr).await?;
        match SaslState::try_from(msg.state) {
            Ok(SaslState::Success) if !started => {
                // SUCCESS in answer to our NEGOTIATE: the server wants no SASL.
                debug!(addr, "server skipped SASL: simple auth");
                return Ok(false);
            }
            Ok(SaslState::Success) => {
                mech.finish(msg.token.as_deref())
                    .map_err(|detail| sasl_err(addr, detail))?;
                debug!(addr, mechanism = mech.mechanism(), "sasl complete");
                return Ok(true);
            }
            Ok(SaslState::Negotiate) => {
                let offered = msg
                    .auths
                    .iter()
                    .find(|a| a.method == mech.method() && a.mechanism == mech.mechanism())
                    .ok_or_else(|| {
                        let list: Vec<String> = msg
                            .auths
                            .iter()
                            .map(|a| format!("{}/{}", a.method, a.mechanism))
                            .collect();
                        sasl_err(
                            addr,
                            format!(
                                "server offers [{}], not {}/{}",
                                list.join(", "),
                                mech.method(),
                                mech.mechanism()
                            ),
                        )
                    })?;
                started = true;
                mech.start(&ServerAuth {
                    method: offered.method.clone(),
                    mechanism: offered.mechanism.clone(),
                    protocol: offered.protocol.clone(),
                    server_id: offered.server_id.clone(),
                })
                .map_err(|detail| sasl_err(addr, detail))?;
                let token = mech
                    .respond(offered.challenge.as_deref().unwrap_or_default())
                    .map_err(|detail| sasl_err(addr, detail))?;
                // The server compares our auth with its own by protobuf equality, so echo
                // it exactly (present-but-empty fields stay present), minus the challenge.
                let chosen = SaslAuth {
                    challenge: None,
                    ..offered.clone()
                };
                let initiate = RpcSaslProto {
                    state: SaslState::Initiate as i32,
                    token: Some(token),
                    auths: vec![chosen],
                    ..Default::default()
                };
                send_sasl(stream, addr, &initiate).await?;
            }
            Ok(SaslState::Challenge) => {
                let token = mech
                    .respond(msg.token.as_deref().unwrap_or_default())
                    .map_err(|detail| sasl_err(addr, detail))?;
                let response = RpcSaslProto {
                    state: SaslState::Response as i32,
                    token: Some(token),
                    ..Default::default()
                };
                send_sasl(stream, addr, &response).await?;
            }
            other => {
                return Err(sasl_err(addr, format!("unexpected SASL state {other:?}")));
            }
        }
    }
}

/// The user named in the connection context: `effective`, and for a proxy user over
/// SIMPLE the `real` user acting as it.
pub struct ContextUser<'a> {
    pub effective: &'a str,
    pub real: Option<&'a str>,
}

/// Sends the connection context (wrapped when `layer` is in force): user info for
/// SIMPLE; after SASL nothing, or the proxied user alone (the server takes the real
/// user from the token or ticket, and reads a different name as a request to act as it).
pub async fn connection_context<S>(
    stream: &mut S,
    addr: &str,
    client_id: &[u8],
    protocol: &str,
    user: Option<ContextUser<'_>>,
    layer: Option<&super::wrapped::SharedLayer>,
) -> Result<()>
where
    S: AsyncWrite + Unpin,
{
    let header = request_header(frame::CONNECTION_CONTEXT_CALL_ID, client_id, -1);
    let context = IpcConnectionContextProto {
        user_info: user.map(|u| UserInformationProto {
            effective_user: Some(u.effective.to_string()),
            real_user: u.real.map(str::to_string),
        }),
        protocol: Some(protocol.to_string()),
    };
    let packet = encode_packet(&[&header, &context]);
    match layer {
        None => write(stream, addr, &packet).await,
        Some(layer) => {
            let wrapped = super::wrapped::wrap(layer, &packet).map_err(|d| sasl_err(addr, d))?;
            write(stream, addr, &wrapped).await
        }
    }
}

async fn send_sasl<S: AsyncWrite + Unpin>(
    stream: &mut S,
    addr: &str,
    msg: &RpcSaslProto,
) -> Result<()> {
    let header = request_header(SASL_CALL_ID, &[], -1);
    write(stream, addr, &encode_packet(&[&header, msg])).await
}

async fn read_sasl<S: AsyncRead + Unpin>(stream: &mut S, addr: &str) -> Result<RpcSaslProto> {
    let packet = read_packet(stream)
        .await
        .map_err(|source| io_err(addr, source))?
        .ok_or_else(|| Error::ConnectionClosed {
            addr: addr.to_string(),
            reason: "server closed the connection during SASL negotiation".into(),
        })?;
    let (header, rest) = split_response(packet).map_err(|source| Error::Decode {
        what: "RpcResponseHeaderProto",
        source,
    })?;
    if header.status != RpcStatusProto::Success as i32 {
        let exception = RemoteException {
            class: header.exception_class_name.unwrap_or_default(),
            message: header.error_msg.unwrap_or_default(),
            error_code: header.error_detail,
        };
        return Err(Error::Fatal {
            addr: addr.to_string(),
            exception,
        });
    }
    let id = response_call_id(&header);
    if id != SASL_CALL_ID {
        let detail = if id == AUTH_FAILED_CALL_ID {
            "authentication failed".to_string()
        } else {
            format!("expected a SASL reply, got call id {id}")
        };
        return Err(Error::Protocol {
            addr: addr.to_string(),
            detail,
        });
    }
    frame::decode_body::<RpcSaslProto>(rest).map_err(|source| Error::Decode {
        what: "RpcSaslProto",
        source,
    })
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, addr: &str, bytes: &[u8]) -> Result<()> {
    stream.write_all(bytes).await.map_err(|e| io_err(addr, e))?;
    stream.flush().await.map_err(|e| io_err(addr, e))
}

fn io_err(addr: &str, source: std::io::Error) -> Error {
    Error::Io {
        addr: addr.to_string(),
        source,
    }
}

fn sasl_err(addr: &str, detail: impl Into<String>) -> Error {
    Error::Sasl {
        addr: addr.to_string(),
        detail: detail.into(),
    }
}
