"""The platform report (Markdown + PDF) and the test report; numbers come only from the artifacts."""

from dataops_platform.report.render import render_report, render_test_report

__all__ = ["render_report", "render_test_report"]
