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
        Ok(SealedSecret {
            ciphertext: self.seal_text(org, secret.expose()).await?,
            hint: secret.hint(),
        })
    }

    pub async fn open(
        &self,
        org: &OrgId,
        sealed: &SealedSecret,
    ) -> Result<SigningSecret, DomainError> {
        SigningSecret::from_text(self.open_text(org, &sealed.ciphertext).await?)
    }

    /// Text that holds a secret (up to KMS's 4 KB), sealed for `org`: base64 of the ciphertext.
    pub async fn seal_text(&self, org: &OrgId, text: &str) -> Result<String, DomainError> {
        let out = self
            .kms
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(text.as_bytes()))
            .encryption_context("org", org.as_str())
            .send()
            .await
            .map_err(DomainError::failed)?;
        let blob = out
            .ciphertext_blob
            .ok_or_else(|| DomainError::Failed("KMS returned no ciphertext".into()))?;
        Ok(BASE64.encode(blob.as_ref()))
    }

    /// What [`SecretSeal::seal_text`] sealed for `org`.
    pub async fn open_text(&self, org: &OrgId, sealed: &str) -> Result<String, DomainError> {
        let ciphertext = BASE64.decode(sealed).map_err(DomainError::failed)?;
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
        String::from_utf8(plain.into_inner()).map_err(DomainError::failed)
    }
}
