//! aws-credfile keeps a classic AWS shared credentials file fresh from the
//! identities Kubernetes on AWS hands a pod (IRSA web identity, EKS Pod
//! Identity), for applications whose AWS SDK predates them.
//!
//! The modules are listed in the order data flows through them; each depends
//! only on the ones above it.
#![deny(unsafe_code)]

pub mod error;
pub mod time;
pub mod credentials;
pub mod endpoint;
pub mod sts;
pub mod credentials_file;
