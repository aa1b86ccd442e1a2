//! Whole-flow tests: the real server on 127.0.0.1:0, real HTTP, a real OIDC issuer on
//! loopback. One test binary, one link step.

mod cli;
mod fulcio_info;
mod helpers;
mod rejections;
mod signing_cert;
