"""The tree of agents, driven by data: ``agent_id -> TreeNode[AgentNode]``.

Labels are rendered from ``node.data`` at paint time (``render_label``), fitted to the
pane's width (``tui.rows``), so an update is ``node.refresh()``. Each turn of a conversation
is a root of its own. The view follows the active agent until the user moves the cursor
(any navigation key, a click, or a find); ``f`` follows again, ``p`` jumps to the parent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.rows import agent_label

if TYPE_CHECKING:
    from rlm.tree import AgentNode

NO_AGENTS = ("No agents yet. Type a question below and press enter: each agent it starts "
             "appears here, and the selected one's transcript beside it (f3 on a narrow "
             "screen).\n\nctrl+o picks a context file or folder, ctrl+t a model; f1 lists "
             "every key.")


class AgentTree(Tree["AgentNode"]):
    """Agents as a tree; the hidden root holds each turn's root agent."""

    BINDINGS = [
        Binding("x", "app.stop_agent", "Stop",
                tooltip="Stop the selected agent and every agent under it (its parent's "
                        "rlm_query gets an error string and goes on)"),
        Binding("slash", "app.find_agent", "Find", show=False,
                tooltip="Find an agent by part of its task or id"),
        # Shown in help, not in the footer: at 80 columns the footer has room for x only.
        Binding("p", "jump_parent", "Parent", show=False, tooltip="Jump to the parent agent"),
        Binding("f", "follow", "Follow", show=False,
                tooltip="Follow the active agent again"),
        Binding("space", "toggle_node", "Fold", show=False,
                tooltip="Fold or unfold an agent's children"),
        Binding("E", "expand_all", "Expand all", show=False, tooltip="Unfold every agent"),
    ]

    def __init__(self, now: Callable[[], float], **kwargs) -> None:
        super().__init__("agents", **kwargs)
        self._width = 0  # the pane's content width at the last frame
        self.show_root = False
        self.auto_expand = False  # space folds; enter opens the transcript (narrow screens)
        self.guide_depth = 3
        self._now = now
        self.nodes: dict[str, TreeNode[AgentNode]] = {}
        self.following = True

    # --- data -> nodes ------------------------------------------------------------------
    def reset_agents(self) -> None:
        self.clear()
        self.nodes.clear()
        self.following = True

    def add_agent(self, agent: AgentNode) -> TreeNode[AgentNode]:
        """A node for ``agent`` under its parent's node (expanded, so a child shows at once)."""
        if agent.agent_id in self.nodes:
            return self.nodes[agent.agent_id]
        parent = self.nodes.get(agent.parent_id or "", self.root)
        node = parent.add(agent.agent_id, data=agent, expand=True, allow_expand=False)
        parent.allow_expand = parent is not self.root
        self.nodes[agent.agent_id] = node
        return node

    def add_trees(self, roots: list[AgentNode]) -> None:
        """Every agent under each root, depth first (a replay: every turn)."""
        for root in roots:
            for agent in root.walk():
                self.add_agent(agent)

    def refresh_agent(self, agent_id: str) -> None:
        node = self.nodes.get(agent_id)
        if node is not None:
            node.refresh()

    def refresh_active(self) -> None:
        """Repaint agents whose elapsed time is still counting."""
        for node in self.nodes.values():
            if node.data is not None and node.data.finished is None:
                node.refresh()

    def render_label(self, node: TreeNode[AgentNode], base_style: Style, style: Style) -> Text:
        if node.data is None:
            return super().render_label(node, base_style, style)
        agent = node.data
        icon = ""
        if node.allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        # Fit the pane: the row gets what the guides and the icon leave, to the cell.
        room = self._width - agent.depth * self.guide_depth - len(icon)
        label = agent_label(agent, self._now(), max(room - 1, 1))
        label.stylize(style)
        return Text.assemble((icon, base_style), label) if icon else label

    def render_lines(self, crop):
        self._width = self.scrollable_content_region.width  # once a frame, not once a line
        return super().render_lines(crop)

    def get_label_width(self, node: TreeNode[AgentNode]) -> int:
        # Labels are cut to the pane (see render_label), so there is no need to render every
        # label whenever a line is added: with 1000 agents that was most of a frame.
        depth = node.data.depth if node.data is not None else 0
        return max(self._width - 1 - depth * self.guide_depth, 1)

    # --- cursor -------------------------------------------------------------------------
    @property
    def selected_agent(self) -> AgentNode | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def show_agent(self, agent_id: str) -> None:
        """Move the cursor to an agent without taking it as the user's choice."""
        node = self.nodes.get(agent_id)
        if node is None or node is self.cursor_node:
            return
        parent = node.parent
        while parent is not None and parent is not self.root:
            parent.expand()
            parent = parent.parent
        # A node added in this same frame has no line yet: build the lines first.
        self._tree_lines  # noqa: B018 (a property that builds the line cache)
        self.move_cursor(node)

    def choose(self, agent_id: str) -> None:
        """Move the cursor to an agent as the user's choice (a find): stop following."""
        self._user_moved()
        self.show_agent(agent_id)

    def follow(self, agent_id: str | None) -> None:
        if self.following and agent_id:
            self.show_agent(agent_id)

    def _user_moved(self) -> None:
        self.following = False

    def action_follow(self) -> None:
        self.following = True
        self.notify("Following the active agent.", timeout=2)

    def action_jump_parent(self) -> None:
        node = self.cursor_node
        if node is not None and node.parent is not None and node.parent is not self.root:
            self._user_moved()
            self.move_cursor(node.parent, animate=False)

    def action_expand_all(self) -> None:
        self.root.expand_all()

    # Every way a user moves the cursor ends "follow the active agent".
    def action_cursor_up(self) -> None:
        self._user_moved()
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self._user_moved()
        super().action_cursor_down()

    def action_page_up(self) -> None:
        self._user_moved()
        super().action_page_up()

    def action_page_down(self) -> None:
        self._user_moved()
        super().action_page_down()

    def action_scroll_home(self) -> None:
        self._user_moved()
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self._user_moved()
        super().action_scroll_end()

    def action_select_cursor(self) -> None:
        self._user_moved()
        super().action_select_cursor()

    def action_cursor_parent(self) -> None:
        self.action_jump_parent()

    def action_cursor_previous_sibling(self) -> None:
        self._user_moved()
        super().action_cursor_previous_sibling()

    def action_cursor_next_sibling(self) -> None:
        self._user_moved()
        super().action_cursor_next_sibling()

    async def _on_click(self, event) -> None:
        self._user_moved()
        await super()._on_click(event)
