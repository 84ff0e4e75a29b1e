//! sigstack-fulcio-core
