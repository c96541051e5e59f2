// Test fixture for PieceWriter: a piece Worker that takes jobs and never answers (a stalled Worker).

(self as unknown as { onmessage: (e: MessageEvent) => void }).onmessage = () => {};
