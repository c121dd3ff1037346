"""0.4.1's ten-hook recorder protocol and its no-op base, under 0.4.1's names.

Every hook takes the ``run_id`` first, so one object can serve many runs.
Exceptions propagate: a recorder that cannot make a fail-closed write stops
the run. The seed's four-hook protocol (`dendrux.recorder.LoopRecorder`,
the recorder holds the run id) is a different contract and stays as it is.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["BaseRecorder", "LoopRecorder"]


@runtime_checkable
class LoopRecorder(Protocol):
    """The ten hooks a 0.4.1 loop and runner call, ``run_id`` first."""

    async def on_run_started(
        self, run_id: str, *, agent_name: str | None = None, agent_model: str | None = None
    ) -> None:
        """A run (fresh or resumed) begins."""

    async def on_run_finished(self, run_id: str, result: Any) -> None:
        """A run ended without an exception (success, paused, cancelled...)."""

    async def on_run_failed(
        self, run_id: str, error: BaseException, *, iteration: int | None = None
    ) -> None:
        """A run ended with an exception."""

    async def on_message_appended(self, run_id: str, message: Any, iteration: int) -> None:
        """A message was added to the conversation."""

    async def on_llm_call_started(
        self,
        run_id: str,
        iteration: int,
        *,
        semantic_messages: Any = None,
        semantic_tools: Any = None,
    ) -> None:
        """An LLM call is about to be made."""

    async def on_llm_call_completed(
        self,
        run_id: str,
        response: Any,
        iteration: int,
        *,
        semantic_messages: Any = None,
        semantic_tools: Any = None,
        duration_ms: int | None = None,
        guardrail_findings: Any = None,
    ) -> None:
        """An LLM call returned."""

    async def on_llm_call_failed(
        self, run_id: str, iteration: int, error: BaseException, *, duration_ms: int | None = None
    ) -> None:
        """An LLM call raised."""

    async def on_tool_started(self, run_id: str, tool_call: Any, iteration: int) -> None:
        """A tool is being dispatched."""

    async def on_tool_completed(
        self, run_id: str, tool_call: Any, tool_result: Any, iteration: int
    ) -> None:
        """A tool ran (or failed)."""

    async def on_governance_event(
        self,
        run_id: str,
        event_type: str,
        iteration: int,
        data: dict[str, Any] | None,
        *,
        correlation_id: str | None = None,
    ) -> None:
        """An approval, a policy decision, a guardrail finding..."""


class BaseRecorder:
    """Every hook a no-op: subclass and override the ones you need (a hook added
    later lands here as a no-op, so subclasses keep working)."""

    async def on_run_started(
        self, run_id: str, *, agent_name: str | None = None, agent_model: str | None = None
    ) -> None:
        return None

    async def on_run_finished(self, run_id: str, result: Any) -> None:
        return None

    async def on_run_failed(
        self, run_id: str, error: BaseException, *, iteration: int | None = None
    ) -> None:
        return None

    async def on_message_appended(self, run_id: str, message: Any, iteration: int) -> None:
        return None

    async def on_llm_call_started(
        self,
        run_id: str,
        iteration: int,
        *,
        semantic_messages: Any = None,
        semantic_tools: Any = None,
    ) -> None:
        return None

    async def on_llm_call_completed(
        self,
        run_id: str,
        response: Any,
        iteration: int,
        *,
        semantic_messages: Any = None,
        semantic_tools: Any = None,
        duration_ms: int | None = None,
        guardrail_findings: Any = None,
    ) -> None:
        return None

    async def on_llm_call_failed(
        self, run_id: str, iteration: int, error: BaseException, *, duration_ms: int | None = None
    ) -> None:
        return None

    async def on_tool_started(self, run_id: str, tool_call: Any, iteration: int) -> None:
        return None

    async def on_tool_completed(
        self, run_id: str, tool_call: Any, tool_result: Any, iteration: int
    ) -> None:
        return None

    async def on_governance_event(
        self,
        run_id: str,
        event_type: str,
        iteration: int,
        data: dict[str, Any] | None,
        *,
        correlation_id: str | None = None,
    ) -> None:
        return None
