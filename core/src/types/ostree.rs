//! An order-statistics B+tree of `u32` ids: the order of a large sorted set.
//!
//! The tree stores only ids; what they are ordered by lives elsewhere (the sorted set's member
//! table), so every search takes a predicate over ids instead of a key. Each child link carries
//! its subtree's element count, which gives rank and select in O(log n), and the subtree's first
//! id, which lets a search pick a child without descending into its neighbours.
//!
//! Leaves hold up to [`LEAF_MAX`] ids in one exact-size allocation (4 bytes per id at full
//! fill). A node that overflows splits in half, except when the new id went to its very end or
//! start: then it splits off just that id, so that ascending or descending loads leave full nodes
//! behind rather than half-full ones. After a removal a small node merges with a neighbour when
//! both fit in one.

const LEAF_MAX: usize = 127;
const INNER_MAX: usize = 63;
/// A node this small tries to merge with a neighbour.
const LEAF_LOW: usize = LEAF_MAX / 4;
const INNER_LOW: usize = INNER_MAX / 4;

#[derive(Clone, Debug)]
enum Node {
    Leaf(Vec<u32>),
    Inner(Vec<Child>),
}

#[derive(Clone, Debug)]
struct Child {
    node: Box<Node>,
    count: u32,
    first: u32,
}

impl Child {
    fn new(node: Node) -> Child {
        let mut c = Child {
            node: Box::new(node),
            count: 0,
            first: 0,
        };
        c.refresh();
        c
    }

    fn refresh(&mut self) {
        self.count = self.node.count();
        self.first = self.node.first().unwrap_or(0);
    }
}

impl Node {
    fn count(&self) -> u32 {
        match self {
            Node::Leaf(ids) => ids.len() as u32,
            Node::Inner(children) => children.iter().map(|c| c.count).sum(),
        }
    }

    fn first(&self) -> Option<u32> {
        match self {
            Node::Leaf(ids) => ids.first().copied(),
            Node::Inner(children) => children.first().map(|c| c.first),
        }
    }

    fn width(&self) -> usize {
        match self {
            Node::Leaf(ids) => ids.len(),
            Node::Inner(children) => children.len(),
        }
    }

    fn is_small(&self) -> bool {
        match self {
            Node::Leaf(ids) => ids.len() <= LEAF_LOW,
            Node::Inner(children) => children.len() <= INNER_LOW,
        }
    }

    /// Inserts `id` at position `rank` of this subtree; returns the new right sibling when the
    /// node had to split.
    fn insert(&mut self, rank: usize, id: u32) -> Option<Node> {
        match self {
            Node::Leaf(ids) => {
                ids.insert(rank, id);
                (ids.len() > LEAF_MAX).then(|| {
                    let at = split_point(ids.len(), rank);
                    let mut right = Vec::with_capacity(LEAF_MAX + 1);
                    right.extend_from_slice(&ids[at..]);
                    ids.truncate(at);
                    Node::Leaf(right)
                })
            }
            Node::Inner(children) => {
                let (i, within) = child_for_insert(children, rank);
                let split = children[i].node.insert(within, id);
                children[i].refresh();
                if let Some(right) = split {
                    children.insert(i + 1, Child::new(right));
                }
                (children.len() > INNER_MAX).then(|| {
                    let at = split_point(children.len(), i + 1);
                    let mut right = Vec::with_capacity(INNER_MAX + 1);
                    right.extend(children.drain(at..));
                    Node::Inner(right)
                })
            }
        }
    }

    fn remove(&mut self, rank: usize) -> u32 {
        match self {
            Node::Leaf(ids) => ids.remove(rank),
            Node::Inner(children) => {
                let (i, within) = child_at(children, rank);
                let id = children[i].node.remove(within);
                children[i].refresh();
                if children[i].count == 0 {
                    children.remove(i);
                } else if children[i].node.is_small() {
                    merge_around(children, i);
                }
                id
            }
        }
    }

    fn get(&self, rank: usize) -> u32 {
        match self {
            Node::Leaf(ids) => ids[rank],
            Node::Inner(children) => {
                let (i, within) = child_at(children, rank);
                children[i].node.get(within)
            }
        }
    }

    fn set(&mut self, rank: usize, id: u32) {
        match self {
            Node::Leaf(ids) => ids[rank] = id,
            Node::Inner(children) => {
                let (i, within) = child_at(children, rank);
                children[i].node.set(within, id);
                children[i].refresh();
            }
        }
    }

    /// How many ids of this subtree satisfy `before` (which holds for a prefix of the order).
    fn partition(&self, before: &mut impl FnMut(u32) -> bool) -> usize {
        match self {
            Node::Leaf(ids) => ids.partition_point(|&id| before(id)),
            Node::Inner(children) => {
                let p = children.partition_point(|c| before(c.first));
                if p == 0 {
                    return 0;
                }
                let skipped: usize = children[..p - 1].iter().map(|c| c.count as usize).sum();
                skipped + children[p - 1].node.partition(before)
            }
        }
    }

    /// Visits ranks `start..end` of this subtree, backwards when `rev`.
    fn walk(&self, start: usize, end: usize, rev: bool, f: &mut impl FnMut(u32)) {
        match self {
            Node::Leaf(ids) => {
                let slice = &ids[start..end];
                if rev {
                    slice.iter().rev().for_each(|&id| f(id));
                } else {
                    slice.iter().for_each(|&id| f(id));
                }
            }
            Node::Inner(children) => {
                let mut spans = Vec::with_capacity(children.len());
                let mut base = 0usize;
                for c in children {
                    let (lo, hi) = (base, base + c.count as usize);
                    base = hi;
                    if hi > start && lo < end {
                        spans.push((c, start.max(lo) - lo, end.min(hi) - lo));
                    }
                }
                if rev {
                    spans.reverse();
                }
                for (c, s, e) in spans {
                    c.node.walk(s, e, rev, f);
                }
            }
        }
    }

    fn heap_size(&self) -> usize {
        match self {
            Node::Leaf(ids) => ids.capacity() * 4,
            Node::Inner(children) => {
                children.capacity() * std::mem::size_of::<Child>()
                    + children
                        .iter()
                        .map(|c| std::mem::size_of::<Node>() + c.node.heap_size())
                        .sum::<usize>()
            }
        }
    }
}

/// Where an overflowing node of `len` entries splits, given that the entry at `pos` is new.
fn split_point(len: usize, pos: usize) -> usize {
    if pos == len - 1 {
        len - 1
    } else if pos == 0 {
        1
    } else {
        len / 2
    }
}

/// The child that rank `rank` falls in (reading), and the rank within it.
fn child_at(children: &[Child], mut rank: usize) -> (usize, usize) {
    for (i, c) in children.iter().enumerate() {
        if rank < c.count as usize {
            return (i, rank);
        }
        rank -= c.count as usize;
    }
    unreachable!("rank within the tree's count")
}

/// The child a new element at `rank` goes into: the one that ends at or after it.
fn child_for_insert(children: &[Child], mut rank: usize) -> (usize, usize) {
    let last = children.len() - 1;
    for (i, c) in children.iter().enumerate() {
        if rank <= c.count as usize || i == last {
            return (i, rank);
        }
        rank -= c.count as usize;
    }
    unreachable!("children is never empty")
}

/// Merges the small child `i` into a neighbour when the two fit in one node.
fn merge_around(children: &mut Vec<Child>, i: usize) {
    let (left, right) = if i + 1 < children.len() {
        (i, i + 1)
    } else if i > 0 {
        (i - 1, i)
    } else {
        return;
    };
    let max = match *children[left].node {
        Node::Leaf(_) => LEAF_MAX,
        Node::Inner(_) => INNER_MAX,
    };
    if children[left].node.width() + children[right].node.width() > max {
        return;
    }
    let taken = children.remove(right);
    match (&mut *children[left].node, *taken.node) {
        (Node::Leaf(a), Node::Leaf(b)) => a.extend_from_slice(&b),
        (Node::Inner(a), Node::Inner(b)) => a.extend(b),
        _ => unreachable!("siblings are at the same depth"),
    }
    children[left].refresh();
}

/// The tree: a root node and the total count.
#[derive(Clone, Debug)]
pub struct OsTree {
    root: Node,
    len: usize,
}

impl Default for OsTree {
    fn default() -> Self {
        OsTree {
            root: Node::Leaf(Vec::new()),
            len: 0,
        }
    }
}

impl OsTree {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts `id` so that it has rank `rank` (0 ≤ rank ≤ len).
    pub fn insert(&mut self, rank: usize, id: u32) {
        debug_assert!(rank <= self.len);
        if let Node::Leaf(ids) = &mut self.root {
            // A small set's only leaf grows as needed rather than taking a full node at once.
            if ids.len() < LEAF_MAX {
                ids.insert(rank, id);
                self.len += 1;
                return;
            }
            let mut full = Vec::with_capacity(LEAF_MAX + 1);
            full.extend_from_slice(ids);
            *ids = full;
        }
        if let Some(right) = self.root.insert(rank, id) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            let mut children = Vec::with_capacity(INNER_MAX + 1);
            children.push(Child::new(left));
            children.push(Child::new(right));
            self.root = Node::Inner(children);
        }
        self.len += 1;
    }

    /// Removes and returns the id at `rank` (< len).
    pub fn remove(&mut self, rank: usize) -> u32 {
        let id = self.root.remove(rank);
        self.len -= 1;
        loop {
            match &mut self.root {
                Node::Inner(children) if children.len() == 1 => {
                    let only = children.pop().expect("one child");
                    self.root = *only.node;
                }
                Node::Inner(children) if children.is_empty() => self.root = Node::Leaf(Vec::new()),
                _ => break,
            }
        }
        id
    }

    pub fn get(&self, rank: usize) -> u32 {
        self.root.get(rank)
    }

    pub fn set(&mut self, rank: usize, id: u32) {
        self.root.set(rank, id)
    }

    /// The number of ids for which `before` holds, `before` being true for a prefix of the
    /// order (as for `slice::partition_point`).
    pub fn partition(&self, mut before: impl FnMut(u32) -> bool) -> usize {
        if self.len == 0 {
            return 0;
        }
        self.root.partition(&mut before)
    }

    /// Visits the ids at ranks `start..end`, in order or backwards.
    pub fn walk(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(u32)) {
        let end = end.min(self.len);
        if start < end {
            self.root.walk(start, end, rev, &mut f);
        }
    }

    /// Bytes allocated for the tree's nodes.
    pub fn heap_size(&self) -> usize {
        self.root.heap_size()
    }

    /// An iterator over every id in order.
    pub fn iter(&self) -> Iter<'_> {
        let mut it = Iter { stack: Vec::new() };
        if self.len > 0 {
            it.stack.push((&self.root, 0));
        }
        it
    }
}

pub struct Iter<'a> {
    stack: Vec<(&'a Node, usize)>,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            let (node, pos) = self.stack.last_mut()?;
            match node {
                Node::Leaf(ids) => {
                    if let Some(&id) = ids.get(*pos) {
                        *pos += 1;
                        return Some(id);
                    }
                    self.stack.pop();
                }
                Node::Inner(children) => {
                    if let Some(c) = children.get(*pos) {
                        *pos += 1;
                        self.stack.push((&c.node, 0));
                    } else {
                        self.stack.pop();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks every invariant: counts, firsts, depth, and the contents against `model`.
    fn check(t: &OsTree, model: &[u32]) {
        fn depth(n: &Node) -> usize {
            match n {
                Node::Leaf(_) => 0,
                Node::Inner(children) => {
                    let d = depth(&children[0].node);
                    for c in children {
                        assert_eq!(depth(&c.node), d);
                        assert_eq!(c.count, c.node.count());
                        assert_eq!(Some(c.first), c.node.first());
                        assert!(c.count > 0);
                    }
                    d + 1
                }
            }
        }
        depth(&t.root);
        assert_eq!(t.len(), model.len());
        assert_eq!(t.iter().collect::<Vec<_>>(), model);
        for (r, &id) in model.iter().enumerate() {
            assert_eq!(t.get(r), id);
        }
        let mut walked = Vec::new();
        t.walk(0, model.len(), true, |id| walked.push(id));
        walked.reverse();
        assert_eq!(walked, model);
    }

    #[test]
    fn matches_a_sorted_vec_under_random_edits() {
        // Ids are their own keys here, so the order is numeric.
        let mut t = OsTree::default();
        let mut model: Vec<u32> = Vec::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..30_000 {
            let insert = model.len() < 50 || rnd(100) < 60 - (round / 1000) as u64;
            if insert {
                let id = rnd(1_000_000) as u32;
                let rank = t.partition(|other| other < id);
                if model.binary_search(&id).is_err() {
                    t.insert(rank, id);
                    let at = model.partition_point(|&o| o < id);
                    model.insert(at, id);
                }
            } else if !model.is_empty() {
                let rank = rnd(model.len() as u64) as usize;
                assert_eq!(t.remove(rank), model.remove(rank));
            }
            if round % 5000 == 0 {
                check(&t, &model);
            }
        }
        check(&t, &model);
        while !model.is_empty() {
            let r = model.len() / 2;
            assert_eq!(t.remove(r), model.remove(r));
        }
        check(&t, &model);
    }

    #[test]
    fn ascending_loads_fill_leaves() {
        let mut t = OsTree::default();
        for i in 0..100_000u32 {
            t.insert(i as usize, i);
        }
        let model: Vec<u32> = (0..100_000).collect();
        check(&t, &model);
        assert!(t.heap_size() < 100_000 * 5, "{}", t.heap_size());
        let mut d = OsTree::default();
        for i in (0..10_000u32).rev() {
            d.insert(0, i);
        }
        check(&d, &(0..10_000).collect::<Vec<_>>());
        assert!(d.heap_size() < 10_000 * 5, "{}", d.heap_size());
    }

    #[test]
    fn set_replaces_in_place() {
        let mut t = OsTree::default();
        for i in 0..1000u32 {
            t.insert(i as usize, i * 2);
        }
        t.set(0, 1);
        t.set(500, 1001);
        assert_eq!(t.get(0), 1);
        assert_eq!(t.partition(|id| id < 1001), 500);
        assert_eq!(t.get(500), 1001);
    }
}
