"""Import Sacred once, quietly: it imports pkg_resources, which warns on every import."""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    from sacred import Experiment
    from sacred.arg_parser import get_config_updates
    from sacred.host_info import HostInfoGetter
    from sacred.observers import FileStorageObserver, MongoObserver
    from sacred.utils import apply_backspaces_and_linefeeds

__all__ = ["Experiment", "FileStorageObserver", "HostInfoGetter", "MongoObserver", "apply_backspaces_and_linefeeds",
           "get_config_updates"]
