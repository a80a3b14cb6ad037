"""The task kinds a playbook may use, by name."""

from release.playbook.modules.base import Module
from release.playbook.modules.http_check import HttpCheck
from release.playbook.modules.link_shared import LinkShared
from release.playbook.modules.service import Service
from release.playbook.modules.shell import Shell
from release.playbook.modules.switch_current import SwitchCurrent
from release.playbook.modules.upload_release import UploadRelease

MODULES: dict[str, Module] = {
    module.name: module for module in (UploadRelease(), LinkShared(), Shell(), SwitchCurrent(), Service(), HttpCheck())
}
