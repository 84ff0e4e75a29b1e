//! sigstack-fulcio
