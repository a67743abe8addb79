"""The OGC API - Features Core test suite (ogctests) against a running sitefinder.

Usage: python ogctests_core.py http://127.0.0.1:PORT
run_ogctests returns pytest's exit status (0 only when every test passed); the module's own
entry point exits 0 even on failures, so it is not used.
"""
import sys

import httpx
from ogctests.main import run_ogctests

# The suite's own client fixture is only found when pytest happens to pick a root directory
# above the package; handing it the client (its documented hook) does not depend on that.
with httpx.Client(base_url=sys.argv[1], timeout=120) as client:
    sys.exit(run_ogctests("features/core", sys.argv[1],
                          ["-p", "no:cacheprovider", "-rfEsw", "--no-header", "-q",
                           # Importing httpx first makes pytest warn that it cannot rewrite
                           # anyio's asserts: a warning about this script, not the server.
                           "-W", "ignore::pytest.PytestAssertRewriteWarning"],
                          test_client=client))
