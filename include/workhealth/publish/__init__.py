"""Publishing: versioned indicator releases with disclosure control, and the report."""

from workhealth.publish.release import PublishResult, publish

__all__ = ["PublishResult", "publish"]
