//! sigstack-trust
