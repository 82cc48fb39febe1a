"""The one thing pyproject.toml cannot say on its own: DeployForge's optional C extension.

``deployforge.policy._rego_input`` builds rego-cpp's input from a Python value in C (see its
source). It is optional: where no C compiler or Python headers exist the build skips it with a
warning and the policy engine builds its input through ctypes instead (the same input, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "deployforge.policy._rego_input",
            sources=["src/deployforge/policy/_rego_input.c"],
            optional=True,
        )
    ]
)
