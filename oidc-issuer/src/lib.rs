//! sigstack-oidc-issuer
