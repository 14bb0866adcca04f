//! Emits the `Py_3_X` cfgs of the CPython being built for (version-specific code paths).

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}
