"""Validates an OpenAPI document (path in argv[1]) with openapi-spec-validator.

Run by tests/it/openapi.rs with the Python of TENANTGATE_TEST_PYTHON; prints every error.
"""

import sys

from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator.readers import read_from_filename

document, _ = read_from_filename(sys.argv[1])
errors = list(OpenAPIV31SpecValidator(document).iter_errors())
for error in errors:
    print(f"{'/'.join(map(str, error.path))}: {error.message}")
if errors:
    sys.exit(f"{len(errors)} error(s)")
print(f"OpenAPI {document['openapi']} document is valid ({len(document['paths'])} paths)")
