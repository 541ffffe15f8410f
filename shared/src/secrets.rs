//! Signing secrets at rest: sealed with the stack's KMS key, bound to their org by the
//! encryption context, opened only to sign a call.

use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::crm::{SealedSecret, SigningSecret};
use crate::error::DomainError;
use crate::ids::OrgId;

#[derive(Clone)]
pub struct SecretSeal {
    kms: aws_sdk_kms::Client,
    key_id: String,
}

impl SecretSeal {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            kms,
            key_id: key_id.into(),
        }
    }

    pub async fn seal(
        &self,
        org: &OrgId,
        secret: &SigningSecret,
    ) -> Result<SealedSecret, DomainError> {
        let out = self
            .kms
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(secret.expose().as_bytes()))
            .encryption_context("org", org.as_str())
            .send()
            .await
            .map_err(DomainError::failed)?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| DomainError::Failed("KMS returned no ciphertext".into()))?;
        Ok(SealedSecret {
            ciphertext: BASE64.encode(blob.as_ref()),
            hint: secret.hint(),
        })
    }

    pub async fn open(
        &self,
        org: &OrgId,
        sealed: &SealedSecret,
    ) -> Result<SigningSecret, DomainError> {
        let ciphertext = BASE64
            .decode(&sealed.ciphertext)
            .map_err(DomainError::failed)?;
        let out = self
            .kms
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context("org", org.as_str())
            .send()
            .await
            .map_err(DomainError::failed)?;
        let plain = out
            .plaintext
            .ok_or_else(|| DomainError::Failed("KMS returned no plaintext".into()))?;
        let text = String::from_utf8(plain.into_inner()).map_err(DomainError::failed)?;
        SigningSecret::from_text(text)
    }
}
