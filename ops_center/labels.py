"""What every page shows the same way: Chinese names and colours of kinds, statuses and severities."""

from __future__ import annotations

KIND_ZH = {"wristband": "康养手环", "beehive": "智能蜂箱", "camera": "视频监控", "station": "劝导站"}
STATUS_ZH = {"ok": "正常", "warn": "需关注", "alarm": "告警", "offline": "离线", "unknown": "未上报"}
STATUS_COLOR = {"ok": "#27ae60", "warn": "#f39c12", "alarm": "#e74c3c", "offline": "#7f8c8d", "unknown": "#bdc3c7"}
SEVERITY_ZH = {1: "特急", 2: "紧急", 3: "一般", 4: "提示"}
SEVERITY_COLOR = {1: "#c0392b", 2: "#e67e22", 3: "#f1c40f", 4: "#3498db"}
