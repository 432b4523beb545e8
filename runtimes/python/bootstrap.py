"""Starts Sluice's runtime for the python3.x runtimes (_sluice_bootstrap).

It is imported rather than run as this script so that Python loads the
bytecode the build compiled next to it (hash-checked .pyc files, one per
installed python3.X) instead of compiling it on every cold start, which
costs 5 to 9 ms of a 20 ms start. Without that bytecode (a runtimes
directory nobody built) Python compiles the source as before.
"""

import _sluice_bootstrap

_sluice_bootstrap.main()
