# rampart's Python shim (shims/README.md, "python/"). /opt is read-only in
# Lambda, so this file is compiled at every cold start: keep it short and
# the comments in the README. It imports nothing; failures are swallowed.
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
    spec = None
    for entry in sys.path:
        if not isinstance(entry, str) or os.path.abspath(entry or ".") == _RAMPART_DIR:
            continue
        base = os.path.join(entry or ".", "sitecustomize")
        if os.path.isfile(entry) or os.path.exists(base + ".py") or os.path.isdir(base):
            from importlib.machinery import PathFinder

            spec = PathFinder.find_spec("sitecustomize", [entry])
            if spec is not None:
                break
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
