# rampart's Python shim, loaded at interpreter start: the wrapper puts this
# directory first on PYTHONPATH, and `site` imports the first
# `sitecustomize` on sys.path (shims/README.md, "python/").
#
# At start it adds one finder to sys.meta_path and runs the sitecustomize
# this one hides, if there is one; it imports nothing. When the function
# imports botocore.client, the finder lets that import run as usual and then
# hands the module to rampart_botocore.py (beside this file), which hooks
# every botocore client. Until then each import costs one string
# comparison. Kept short on purpose: /opt is read-only in Lambda, so this
# file is compiled again at every cold start.
#
# Nothing here may stop the interpreter from starting: failures are
# swallowed (those of the chained sitecustomize are reported as `site`
# would).

import os
import sys


class RampartBotocoreFinder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "botocore.client":
            return None
        try:
            sys.meta_path.remove(RampartBotocoreFinder)
            for finder in sys.meta_path:
                spec = getattr(finder, "find_spec", None) and finder.find_spec(name, path, target)
                if spec:
                    break
            else:
                return None
            loader = spec.loader
            real = loader.exec_module
        except Exception:
            return None

        def exec_module(module):
            # The loader may serve other modules (a zipimporter): one call.
            try:
                del loader.exec_module
            except Exception:
                pass
            real(module)
            try:
                from importlib.util import module_from_spec, spec_from_file_location

                spec = spec_from_file_location("rampart_botocore", _RAMPART_DIR + "/rampart_botocore.py")
                hook = sys.modules["rampart_botocore"] = module_from_spec(spec)
                spec.loader.exec_module(hook)
                hook.install(module)
            except Exception:
                pass

        try:
            loader.exec_module = exec_module
        except Exception:
            pass
        return spec


def _rampart_chain():
    from importlib.machinery import PathFinder

    rest = [p for p in sys.path if isinstance(p, str) and os.path.abspath(p or ".") != _RAMPART_DIR]
    spec = PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    mine = sys.modules["sitecustomize"]
    module = sys.modules["sitecustomize"] = type(sys)("sitecustomize")
    module.__spec__, module.__loader__, module.__file__ = spec, spec.loader, spec.origin
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules["sitecustomize"] = mine
        if sys.flags.verbose:
            sys.excepthook(*sys.exc_info())
        else:
            msg = "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n%s: %s\n"
            sys.stderr.write(msg % (err.__class__.__name__, err))


try:
    _RAMPART_DIR = os.path.dirname(os.path.abspath(__file__))
    sys.meta_path.insert(0, RampartBotocoreFinder)
    _rampart_chain()
except Exception:
    pass
