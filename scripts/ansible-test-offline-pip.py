# -*- coding: utf-8 -*-
# Stand-in for the pip bootstrap script that ansible-test downloads before it builds a sanity-test venv.
# scripts/test.sh installs it as ~/.ansible/test/cache/get_pip_<version>.py only when the real one
# cannot be downloaded (a machine with PyPI but no other internet access). It bootstraps pip with the
# standard library's ensurepip, then installs what ansible-test asked for from the configured index.
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import subprocess
import sys


def main():
    """Bootstrap pip with ensurepip in a child process, then pip-install the requested packages."""
    # ensurepip in-process would set PIP_CONFIG_FILE=/dev/null and pip would lose the host's pip.conf.
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
    args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
    sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))


if __name__ == '__main__':
    main()
