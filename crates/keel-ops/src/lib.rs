//! Ops automation: runbooks (their model, checks, parameters and templating) and the
//! transports that run commands and copy files on targets (SSH, WinRM, local), the layer the
//! run engine calls for `ssh.exec`, `ssh.copy`, `winrm.exec`, `winrm.copy` and `shell.exec`
//! steps.
#![forbid(unsafe_code)]

pub mod runbook;
pub mod transport;

pub use transport::{
    CollectSink, Credentials, ExecOutcome, ExecRequest, Identity, OutputChunk, OutputSink, OutputStream, PrivateKey,
    Transport, TransportError,
};
