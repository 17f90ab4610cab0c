"""Workflow (事项审批, 任务) views shared by the approvals, task and phone pages."""
