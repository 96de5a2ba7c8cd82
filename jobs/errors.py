"""Errors a user can cause. Every message names the file, field, job or host at fault."""


class JobsError(Exception):
    pass


class TemplateError(JobsError):
    pass


class SpecError(JobsError):
    pass


class RegistryError(JobsError):
    pass


class RemoteError(JobsError):
    pass
