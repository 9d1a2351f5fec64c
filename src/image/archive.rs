//! `load` and `save`: OCI image layout directories and `docker save` tarballs.
